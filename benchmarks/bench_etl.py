"""ETL benchmark: this project's ETL against the original notebook's approach, same run.

Baseline (the Udacity notebook): extract the tar to disk, unpickle each member, pandas
DataFrames to pick the rows, one `matplotlib.pyplot.imsave` per image, `.lst` through
`DataFrame.to_csv`. Ours: `etl.export.run` (one streaming pass, restricted unpickler,
PIL in a few threads, checksums, manifest).

Each variant runs in its own subprocess; its peak memory is that process's maxrss
(from wait4), its time the wall and CPU time of the work alone (imports excluded, they
are reported apart). The machine is shared, so variants alternate and the report gives
ratios; CPU time is the steadier of the two measures.

    .venv/bin/python -m benchmarks.bench_etl            # everything (~15-30 min on 2 busy cores)
    .venv/bin/python -m benchmarks.bench_etl --quick    # the real subset only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "benchmarks" / "results"
SHARED = Path(
    os.environ.get(
        "SCONES_SHARED_ARCHIVE", REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
    )
)
BENCH_CACHE = Path(os.environ.get("SCONES_BENCH_CACHE", "/tmp/scones-bench"))
FULL_ARCHIVE = BENCH_CACHE / "cifar-100-synthetic-60k.tar.gz"
TWO = "bicycle,motorcycle"


# --- the work, run inside a child process -------------------------------------------


def child(variant: str, source: str, out: str, labels: str) -> None:
    t_import = time.perf_counter()
    if variant == "ours":
        from etl.export import run

        def work() -> int:
            return sum(c["total"] for c in run(source, out, labels.split(",")).counts.values())
    else:
        import matplotlib

        matplotlib.use("Agg")

        def work() -> int:
            return notebook_etl(Path(source), Path(out), labels.split(","))

    import_s = time.perf_counter() - t_import
    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0 = _cpu()
    t0 = time.perf_counter()
    images = work()
    result = {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": _cpu() - cpu0,
        "import_s": import_s,
        "rss_after_import_kb": rss_after_import,
        "images": images,
    }
    print(json.dumps(result))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def notebook_etl(source: Path, out: Path, labels: list[str]) -> int:
    """The original notebook's steps, kept as written there (pandas + plt.imsave)."""
    import tarfile

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from etl.unpickle import load_restricted

    extract = out / "_extracted"
    with tarfile.open(source, "r:gz") as tar:
        tar.extractall(extract, filter="data")

    def unpickle(file: Path) -> dict:
        # The notebook used pickle.load(fo, encoding="bytes"); the restricted loader does
        # the same work without running whatever a pickle asks for.
        with open(file, "rb") as fo:
            return load_restricted(fo, str(file))

    meta = unpickle(extract / "cifar-100-python/meta")
    df_meta = pd.DataFrame(meta[b"fine_label_names"], columns=["category"])
    df_meta["category"] = df_meta["category"].apply(lambda x: x.decode("utf-8"))
    ids = [int(df_meta.loc[df_meta["category"] == name].index[0]) for name in labels]

    def save_images(df: pd.DataFrame, dataset: dict, path: Path) -> None:
        for i in range(len(df)):
            img = dataset[b"data"][df.iloc[i]["row"]]
            target = np.dstack(
                (
                    img[0:1024].reshape(32, 32),
                    img[1024:2048].reshape(32, 32),
                    img[2048:].reshape(32, 32),
                )
            )
            plt.imsave(path / df.iloc[i]["filenames"], target)

    total = 0
    for split in ("train", "test"):
        dataset = unpickle(extract / f"cifar-100-python/{split}")
        df = pd.DataFrame(
            {
                "filenames": dataset[b"filenames"],
                "labels": dataset[b"fine_labels"],
                "row": range(len(dataset[b"filenames"])),
            }
        )
        df = df.loc[df["labels"].isin(ids)].copy()
        df["filenames"] = df["filenames"].apply(lambda x: x.decode("utf-8"))
        (out / split).mkdir(parents=True, exist_ok=True)
        save_images(df, dataset, out / split)
        lst = pd.DataFrame(
            {
                "idx": range(len(df)),
                "class": df["labels"].map({fid: i for i, fid in enumerate(ids)}).to_numpy(),
                "path": df["filenames"].to_numpy(),
            }
        )
        lst.to_csv(out / f"{split}.lst", sep="\t", header=False, index=False)
        total += len(df)
    shutil.rmtree(extract)
    return total


# --- the driver -------------------------------------------------------------------------


def make_full_archive(path: Path) -> None:
    """50,000 + 10,000 images over 100 classes, pixels drawn from the real subset."""
    import numpy as np

    from etl.archive import read_archive
    from etl.synthetic import meta_dict, split_dict, write_archive

    real = read_archive(SHARED, progress=False)
    pool = np.concatenate([real.train.data, real.test.data])
    rng = np.random.default_rng(2009)

    def split(per_class: int, label: str, prefix: str) -> dict:
        labels = np.repeat(np.arange(100), per_class)
        rng.shuffle(labels)
        rows = pool[rng.integers(0, len(pool), len(labels))]
        # Mirror half the images so that few rows repeat byte for byte.
        planes = rows.reshape(-1, 3, 32, 32)
        flip = rng.random(len(labels)) < 0.5
        planes[flip] = planes[flip][..., ::-1]
        names = [f"{prefix}_s_{i:06d}.png" for i in range(len(labels))]
        return split_dict(planes.reshape(-1, 3072), labels.tolist(), names, label)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    write_archive(
        tmp,
        split(500, "training batch 1 of 1", "train"),
        split(100, "testing batch 1 of 1", "test"),
        meta_dict(real.fine_label_names),
    )
    tmp.replace(path)


def measure(variant: str, source: Path, labels: str, scratch: Path) -> dict:
    out = scratch / f"{variant}-out"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", variant, str(source), str(out), labels],
        stdout=subprocess.PIPE,
        env={**os.environ, "MPLBACKEND": "Agg"},
        cwd=REPO,
    )
    t0 = time.perf_counter()
    stdout = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    process_wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{variant} on {source.name} failed")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    result.update(peak_rss_mb=usage.ru_maxrss / 1024, process_wall_s=process_wall)
    result["work_rss_mb"] = (usage.ru_maxrss - result.pop("rss_after_import_kb")) / 1024
    shutil.rmtree(out, ignore_errors=True)
    return result


def scenario(name: str, source: Path, labels: str, reps: int, scratch: Path) -> dict:
    runs: dict[str, list[dict]] = {"baseline": [], "ours": []}
    for rep in range(reps):
        order = ("baseline", "ours") if rep % 2 == 0 else ("ours", "baseline")
        for variant in order:
            r = measure(variant, source, labels, scratch)
            runs[variant].append(r)
            print(
                f"  {name} {variant:8s} rep {rep + 1}/{reps}: {r['wall_s']:7.2f} s wall, "
                f"{r['cpu_s']:7.2f} s cpu, {r['peak_rss_mb']:6.0f} MB peak, {r['images']} images",
                flush=True,
            )
    summary = {v: _median(rs) for v, rs in runs.items()}
    b, o = summary["baseline"], summary["ours"]
    assert b["images"] == o["images"], "both variants must export the same images"
    floor = file_floor(int(o["images"]), scratch)
    print(f"  {name} floor: creating {int(o['images'])} files takes {floor['cpu_s']:.2f} s cpu")
    return {
        "floor": floor,
        "scenario": name,
        "source": source.name,
        "labels": labels if labels.count(",") < 5 else f"{labels.count(',') + 1} classes",
        "reps": reps,
        "median": summary,
        "runs": runs,
        "ratio_wall": b["wall_s"] / o["wall_s"],
        "ratio_cpu": b["cpu_s"] / o["cpu_s"],
        "ratio_peak_rss": b["peak_rss_mb"] / o["peak_rss_mb"],
    }


def file_floor(n: int, scratch: Path) -> dict:
    """What creating `n` PNG-sized files costs here, whatever writes them."""
    folder = scratch / "floor"
    folder.mkdir()
    payload = b"\0" * 2400
    cpu0, t0 = _cpu(), time.perf_counter()
    for i in range(n):
        (folder / f"{i:06d}.png").write_bytes(payload)
    result = {"files": n, "wall_s": time.perf_counter() - t0, "cpu_s": _cpu() - cpu0}
    shutil.rmtree(folder)
    return result


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def report(results: list[dict], command: str, started: str, load: tuple[float, ...]) -> str:
    lines = [
        "# ETL benchmark: `python -m etl` vs the original notebook",
        "",
        f"Command: `{command}`  ",
        f"Run: {started} UTC on {platform.machine()}, {os.cpu_count()} cores shared with other "
        f"work (load average at start {load[0]:.1f}), Python {platform.python_version()}.",
        "",
        "Baseline: the notebook's steps (tar extracted to disk, pandas DataFrames, one "
        "`plt.imsave` per image, `.lst` via `to_csv`); it loads pickles with the same "
        "restricted unpickler. Ours: `etl.export.run` (one streaming pass over the .tar.gz, "
        "PIL in threads, sha256 of every file, manifest with pixel statistics). Each variant "
        "runs in its own process, alternating; medians of the repetitions. Times are the work "
        "only (imports apart); peak RSS is the whole process (from wait4).",
        "",
        "| scenario | images | variant | wall s | cpu s | import s | peak RSS MB |"
        " RSS above imports MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for variant in ("baseline", "ours"):
            m = r["median"][variant]
            lines.append(
                f"| {r['scenario']} | {int(m['images'])} | {variant} | {m['wall_s']:.2f} | "
                f"{m['cpu_s']:.2f} | {m['import_s']:.2f} | {m['peak_rss_mb']:.0f} | "
                f"{m['work_rss_mb']:.0f} |"
            )
    lines += [
        "",
        "| scenario | reps | time ratio (wall) | time ratio (cpu) | peak memory ratio |"
        " cpu s to create the files alone |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['scenario']} | {r['reps']} | {r['ratio_wall']:.1f}x | {r['ratio_cpu']:.1f}x | "
            f"{r['ratio_peak_rss']:.2f}x | {r['floor']['cpu_s']:.2f} |"
        )
    lines += [
        "",
        "Ratios are baseline / ours: above 1 means ours is faster or smaller. The last column "
        "is the cost both variants pay whatever they do: creating that many 2.4 KB files on "
        "this machine's disk, measured in the same run; it bounds how far the per-image "
        "ratio can go. Ours also does work the baseline does not: sha256 and MD5 of the "
        "archive, sha256 of every PNG, validation, pixel statistics, the manifest.",
        "The 60k archive is generated (pixels drawn from the real subset, half mirrored; "
        "500 train + 100 test images per class, 100 classes) and cached in "
        f"`{FULL_ARCHIVE}`; it is not in the repository.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the real subset only")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the small scenarios")
    parser.add_argument("--skip-all-classes", action="store_true", help="skip 60k x 100 classes")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load = os.getloadavg()
    scenarios = [("real subset, 2 classes", SHARED, TWO, args.reps)]
    if not args.quick:
        if not FULL_ARCHIVE.is_file():
            print(f"generating {FULL_ARCHIVE} (once) ...", flush=True)
            make_full_archive(FULL_ARCHIVE)
        scenarios.append(("60k archive, 2 classes", FULL_ARCHIVE, TWO, max(2, args.reps - 1)))
        if not args.skip_all_classes:
            from etl.synthetic import FINE_LABEL_NAMES

            scenarios.append(
                ("60k archive, 100 classes", FULL_ARCHIVE, ",".join(FINE_LABEL_NAMES), 1)
            )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-etl-") as scratch:
        for name, source, labels, reps in scenarios:
            print(f"{name}: {source}", flush=True)
            results.append(scenario(name, source, labels, reps, Path(scratch)))
    command = "python -m benchmarks.bench_etl " + " ".join(sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "etl.md").write_text(report(results, command.strip(), started, load))
    (RESULTS / "etl.json").write_text(
        json.dumps(
            {"command": command.strip(), "started_utc": started, "results": results}, indent=1
        )
    )
    print(f"wrote {RESULTS / 'etl.md'} and {RESULTS / 'etl.json'}")


if __name__ == "__main__":
    main()
