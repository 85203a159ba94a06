"""CIFAR-100 ETL: archive -> PNG channels, SageMaker .lst files, manifest.json -> S3.

API: `etl.export.run(source, out, labels) -> Manifest`, `etl.upload.upload(out, s3_uri)`.
"""
