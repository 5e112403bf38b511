"""Build ``data/gpus.csv`` and ``data/GPUS.md``: the canonical GPU table the planner uses.

What: one row per canonical GPU name that appears in the cloud offers (K80 ... RTX-PRO-6000)
with its aliases, board power (W), memory (GB), dense BF16 and FP32 TFLOPS, memory bandwidth
(GB/s) and a training throughput factor relative to the A100 80GB SXM (= 1.0), each with its
provenance.

Why: the planner turns a job's A100-hours into GPU-hours (time and cost) and into energy
(GPU-hours x board power), so every GPU with an offer needs tdp_w > 0, memory_gb > 0 and
rel_throughput > 0 from a traceable source. Specs come from ``shared/reference/gpus.csv``;
the five GPUs missing there were entered from vendor datasheets (named per row). Throughput
factors are kept from ``gpus.csv`` where it cites benchmark evidence (``measured``); the rest
are estimated (``estimated``): from specs with one formula fitted on the measured GPUs, and,
for T4, L4 and H100 NVL (the estimated GPUs with measured siblings in the benchmark files),
as the geometric mean of that formula and sibling proxies. The fit with its residuals and
every proxy are written to GPUS.md so a reader can judge them.

Each factor also gets a plausible range (``rel_throughput_low`` / ``_high``): for a measured
factor the min and max of the per-benchmark ratios behind it (or +-30% where the evidence is
indirect: K80, P100, MI300X); for an estimated one the spread of its proxies, at least +-30%.

Deterministic; pandas and the standard library only.

Usage: ``python scripts/build_gpus.py [--reference DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = REPO.parent / "shared" / "reference"
DEFAULT_OUT = REPO / "data"

COLUMNS = [
    "gpu",
    "aliases",
    "vendor",
    "tdp_w",
    "memory_gb",
    "bf16_tflops",
    "fp32_tflops",
    "mem_bw_gbs",
    "rel_throughput",
    "rel_throughput_low",
    "rel_throughput_high",
    "throughput_basis",
    "throughput_source",
    "spec_source",
]
REF_BF16 = 312.0  # A100 80GB SXM dense BF16 TFLOPS
REF_BW = 2039.0  # A100 80GB SXM GB/s


@dataclass(frozen=True)
class Canon:
    gpu: str
    ref_row: str | None  # row name in reference/gpus.csv (None: entered from a datasheet)
    arch: str
    aliases: tuple[str, ...]
    spec_note: str  # datasheet named for the spec figures
    throughput_note: str = ""  # one-line evidence summary for measured factors


CANON: tuple[Canon, ...] = (
    Canon(
        "K80",
        "K80",
        "Kepler",
        ("tesla k80", "nvidia k80", "k80-die"),
        "NVIDIA Tesla K80 datasheet; per GK210 die (one cloud 'GPU'), board = 2 dies",
        "TF tf_cnn_benchmarks 2017 ResNet-50 FP32, K80 die 51.9 vs P100 219 img/s, x P100 "
        "factor (low confidence)",
    ),
    Canon(
        "P4",
        None,
        "Pascal",
        ("tesla p4", "nvidia p4", "p4-8gb"),
        "entered from the NVIDIA Tesla P4 datasheet: 75 W, 8 GB GDDR5, 192 GB/s, 5.5 TF "
        "FP32; no tensor cores and no usable FP16/BF16 rate, so bf16_tflops is empty",
    ),
    Canon(
        "P100",
        "P100 PCIe 16GB",
        "Pascal",
        ("tesla p100", "nvidia p100", "p100-16gb", "p100 pcie 16gb"),
        "NVIDIA Tesla P100 PCIe datasheet; no tensor cores (bf16_tflops empty)",
        "TF tf_cnn_benchmarks 2017 ResNet-50 FP32 219 img/s vs Lambda A100 80GB AMP "
        "(0.14-0.16), lowered to 0.12 for transformers (low confidence)",
    ),
    Canon(
        "V100",
        "V100 SXM2 16GB",
        "Volta",
        (
            "tesla v100",
            "nvidia v100",
            "v100-16gb",
            "v100 sxm2 16gb",
            "v100-sxm2-16gb",
            "v100 16gb (ncv3)",
        ),
        "NVIDIA V100 datasheet (SXM2); bf16_tflops = FP16 tensor (no BF16)",
        "Lambda PyTorch FP16 BERT/TXL, LambdaCloud V100 16GB vs A100 80GB SXM4, geomean 0.39",
    ),
    Canon(
        "V100-32GB",
        "V100 SXM2 32GB",
        "Volta",
        ("v100 32gb", "v100-sxm2-32gb", "v100 sxm2 32gb", "tesla v100 32gb"),
        "NVIDIA V100 datasheet (SXM2 32 GB); bf16_tflops = FP16 tensor (no BF16)",
        "assumed equal to V100 16GB SXM2 (same silicon); Lambda legacy-2022 'V100 32GB' "
        "BERT geomean 0.40",
    ),
    Canon(
        "T4",
        "T4",
        "Turing",
        ("tesla t4", "nvidia t4", "t4g"),
        "NVIDIA T4 product page; bf16_tflops = FP16 tensor (no BF16); t4g = AWS g5g "
        "(same T4 GPU on an Arm host)",
    ),
    Canon(
        "A10G",
        "A10G",
        "Ampere",
        ("nvidia a10g", "a10g-24gb"),
        "no NVIDIA datasheet (AWS-only part): 300 W nvidia-smi power cap on g5, BF16 ~70 TF "
        "from a measured GEMM, FP32/memory as A10 (see reference/gpus.csv notes)",
        "proxy: Lambda PyTorch FP16 A10 vs A100 80GB SXM4 (geomean 0.32); A10G has the same "
        "memory system",
    ),
    Canon(
        "A10",
        "A10",
        "Ampere",
        ("nvidia a10", "a10-24gb"),
        "NVIDIA A10 datasheet",
        "Lambda PyTorch FP16 BERT/TXL, LambdaCloud A10 vs A100 80GB SXM4, geomean 0.32 (BERT 0.29)",
    ),
    Canon(
        "L4",
        "L4",
        "Ada",
        ("nvidia l4", "l4-24gb"),
        "NVIDIA L4 datasheet (dense BF16 = 242 sparse / 2)",
    ),
    Canon(
        "L40S",
        "L40S",
        "Ada",
        ("nvidia l40s", "l40s-48gb"),
        "NVIDIA L40S datasheet",
        "proxy RTX 6000 Ada (same AD102): Lambda PyTorch FP16 BERT/TXL geomean 0.69, "
        "BERT 0.55; 0.60 chosen",
    ),
    Canon(
        "A100",
        "A100 40GB SXM",
        "Ampere",
        ("a100-40gb", "a100 40gb", "a100-sxm4-40gb", "nvidia a100", "a100 40gb sxm"),
        "NVIDIA A100 datasheet (40 GB SXM)",
        "Lambda legacy-2022 A100 40GB SXM4 vs A100 80GB SXM4, same run, geomean 0.88",
    ),
    Canon(
        "A100-80GB",
        "A100 80GB SXM",
        "Ampere",
        ("a100 80gb", "a100-80gb-sxm", "a100_80gb", "a100-sxm4-80gb", "a100 80gb sxm"),
        "NVIDIA A100 datasheet (80 GB SXM)",
        "reference GPU (= 1.00): Lambda 'A100 80GB SXM4' row",
    ),
    Canon(
        "A100-80GB-PCIE",
        "A100 80GB PCIe",
        "Ampere",
        ("a100 80gb pcie", "a100-pcie-80gb", "a100-80gb-pcie4"),
        "NVIDIA A100 datasheet (80 GB PCIe)",
        "Lambda PyTorch FP16 A100 80GB PCIe vs SXM4, geomean 0.94 (legacy-2022 0.94-0.97)",
    ),
    Canon(
        "H100",
        "H100 SXM",
        "Hopper",
        ("h100-sxm", "h100-80gb", "h100-mega", "h100 sxm5", "h100 sxm", "nvidia h100"),
        "NVIDIA H100 datasheet (SXM5; dense BF16 = 1,979 sparse / 2)",
        "Lambda PyTorch FP16 BERT, five H100 SXM5 systems (2024) vs A100 80GB SXM4, "
        "1.94-2.05 (no FP8)",
    ),
    Canon(
        "H100-NVL",
        None,
        "Hopper",
        ("h100 nvl", "h100-nvl-94gb", "h100 nvl 94gb", "h100 nvl 94gb (pcie)"),
        "entered from the NVIDIA H100 datasheet (H100 NVL column, per GPU): 350-400 W "
        "configurable (400 used), 94 GB HBM3, 3.9 TB/s, FP32 60 TF, BF16 1,671 TF sparse -> "
        "835 dense; matches mlco2-impact gpus.csv (400 W, 94 GB)",
    ),
    Canon(
        "H200",
        "H200 SXM",
        "Hopper",
        ("h200-sxm", "h200 sxm", "h200-141gb", "nvidia h200"),
        "NVIDIA H200 product page (SXM)",
        "Lambda v2 1x H200 BERT 2.10/2.30 vs A100 80GB SXM4 (cross-file)",
    ),
    Canon(
        "B200",
        "B200",
        "Blackwell",
        ("b200-sxm", "hgx b200", "nvidia b200", "b200 192gb"),
        "NVIDIA HGX B200 spec, per GPU (180 GB usable of 192 GB)",
        "Lambda v1v2 1x B200 BERT 3.17/3.44 vs A100 80GB SXM4 (FP16, no FP8/FP4)",
    ),
    Canon(
        "B300",
        None,
        "Blackwell",
        ("hgx b300", "nvidia b300", "b300-sxm", "blackwell ultra"),
        "entered from the NVIDIA HGX B300 spec, per GPU: 1,100 W, 288 GB HBM3e (AWS "
        "p6-b300 reports 275,040 MiB = 288 GB per GPU in skypilot-catalog), 8 TB/s, BF16 "
        "36 PF sparse per 8 GPUs -> 2,250 dense (same as B200); FP32 left empty (not "
        "confident)",
    ),
    Canon(
        "GB200",
        None,
        "Blackwell",
        ("gb200 nvl72", "gb200-nvl72", "nvidia gb200", "gb200-186gb"),
        "entered from the NVIDIA GB200 NVL72 spec, per GPU (1/72): 13.4 TB HBM3e -> 186 GB, "
        "576 TB/s -> 8 TB/s, FP16/BF16 360 PF sparse -> 2,500 dense; 1,200 W per Blackwell "
        "GPU in GB200 (2,700 W superchip incl. Grace, not confident to +-10%); FP32 left "
        "empty (not confident)",
    ),
    Canon(
        "MI300X",
        "MI300X",
        "CDNA3",
        ("amd mi300x", "instinct mi300x", "mi300x-192gb"),
        "AMD Instinct MI300X spec",
        "indirect: MLPerf Training v5.0 Llama-2-70B LoRA, MI300X slightly below H200; mapped "
        "via H100 2.0 / H200 2.2 (low-medium confidence)",
    ),
    Canon(
        "RTX-PRO-6000",
        None,
        "Blackwell",
        (
            "rtx pro 6000",
            "rtx pro server 6000",
            "rtx pro 6000 bse",
            "rtxpro6000",
            "rtxpro6000bse",
            "rtx pro 6000 blackwell server edition",
        ),
        "entered from the NVIDIA RTX PRO 6000 Blackwell Server Edition datasheet: up to "
        "600 W, 96 GB GDDR7 (AWS g7e reports 98,304 MiB), 512-bit at 28 Gbps = 1,792 GB/s; "
        "BF16 ~500 dense derived from 4,000 AI TOPS (FP4 sparse) / 8, approximate (+-10%); "
        "FP32 left empty (not confident)",
    ),
)

# Figures for the GPUs not in reference/gpus.csv (see each Canon.spec_note for the datasheet).
DATASHEET: dict[str, dict[str, float | None]] = {
    "P4": {"tdp_w": 75, "memory_gb": 8, "bf16_tflops": None, "fp32_tflops": 5.5, "mem_bw_gbs": 192},
    "H100-NVL": {
        "tdp_w": 400,
        "memory_gb": 94,
        "bf16_tflops": 835,
        "fp32_tflops": 60,
        "mem_bw_gbs": 3900,
    },
    "B300": {
        "tdp_w": 1100,
        "memory_gb": 288,
        "bf16_tflops": 2250,
        "fp32_tflops": None,
        "mem_bw_gbs": 8000,
    },
    "GB200": {
        "tdp_w": 1200,
        "memory_gb": 186,
        "bf16_tflops": 2500,
        "fp32_tflops": None,
        "mem_bw_gbs": 8000,
    },
    "RTX-PRO-6000": {
        "tdp_w": 600,
        "memory_gb": 96,
        "bf16_tflops": 500,
        "fp32_tflops": None,
        "mem_bw_gbs": 1792,
    },
}

# Reference rows used to fit the spec model: tensor-core GPUs whose factor is a direct
# same-harness measurement of that exact GPU. Excluded (with reason, listed in GPUS.md):
FIT_ROWS = (
    "V100 SXM2 16GB",
    "V100 PCIe 32GB",
    "A10",
    "A100 40GB SXM",
    "A100 80GB SXM",
    "A100 40GB PCIe",
    "A100 80GB PCIe",
    "H100 SXM",
    "H100 PCIe",
    "H200 SXM",
    "B200",
)
FIT_EXCLUDED = {
    "K80": "no tensor cores; FP32 CNN evidence only (shown as a validation point)",
    "P100 PCIe 16GB": "no tensor cores; FP32 CNN evidence only (validation point)",
    "V100 SXM2 32GB": "factor assumed equal to V100 16GB (not an independent measurement)",
    "A10G": "factor is the A10 measurement used as a proxy",
    "L40S": "factor measured on the RTX 6000 Ada proxy (same AD102 die)",
    "MI300X": "indirect MLPerf mapping, different vendor/software stack",
}
# Architecture of non-canonical reference rows (for the architecture correction).
REF_ARCH = {
    "V100 PCIe 32GB": "Volta",
    "A100 40GB PCIe": "Ampere",
    "H100 PCIe": "Hopper",
    "A100 80GB SXM": "Ampere",
}
# Measured rows that inform the per-architecture correction (fit rows + these).
ARCH_EXTRA = ("K80", "P100 PCIe 16GB", "L40S")


# --- plausible ranges -----------------------------------------------------------------------

DERIVED_FILE = "derived-relative-throughput-vs-a100-80gb-sxm4.csv"
LEGACY_FP16_FILE = "lambda-legacy2022-train-throughput-fp16.csv"
TRANSFORMERS = ("bert_base_squad", "bert_large_squad", "transformerxlbase", "transformerxllarge")

# Rows of the derived file (its `gpu` column; a name matches as a prefix) behind each measured
# factor. The range is the min and max of their per-benchmark ratios (BERT base/large,
# Transformer-XL base/large, FP16, vs the A100 80GB SXM4 row of the same file).
EVIDENCE_ROWS: dict[str, tuple[str, ...]] = {
    "V100": ("V100 16GB (SXM2, Lambda Cloud)",),
    "V100-32GB": ("V100 16GB (SXM2, Lambda Cloud)", "V100 32GB (legacy run"),
    "A10G": ("A10 (Lambda Cloud)",),  # the A10 proxy behind the factor
    "A10": ("A10 (Lambda Cloud)",),
    "L40S": ("RTX 6000 Ada (proxy for L40S)",),
    "A100": ("A100 40GB SXM4 (legacy run)",),
    "A100-80GB-PCIE": ("A100 80GB PCIe",),  # the v1 and the legacy-2022 run
    "H100": ("H100 80GB SXM5",),  # every SXM5 system, 2023 row included
    "H200": ("H200 141GB SXM",),
    "B200": ("B200 192GB",),
}
# Measured factors with no per-benchmark ratios (indirect or FP32 CNN evidence): +-30%.
INDIRECT_BAND = 0.30
INDIRECT_WHY = {
    "K80": "FP32 ResNet-50 only, via the P100 factor (low confidence)",
    "P100": "FP32 ResNet-50 only (0.14-0.16), lowered for transformers (low confidence)",
    "MI300X": "indirect MLPerf mapping, other vendor and software stack (low-medium confidence)",
}
# An estimated factor's range is its proxies' spread, and never narrower than +-30%: the spec
# model's residuals on the GPUs it was fitted on reach -13%..+32% (B200), and on measured GPUs
# left out of the fit -14%..+56% (see the fit table in GPUS.md).
ESTIMATE_BAND = 0.30
# Files checked for T4, L4 and H100 NVL rows (none has one).
CHECKED_FILES = "Lambda legacy-2022, v1, v1v2 and v2 files and tf_cnn_benchmarks 2017"


@dataclass(frozen=True)
class Proxy:
    label: str
    value: float


def sig2(x: float) -> float:
    """Round to 2 significant digits."""
    return float(f"{x:.2g}")


def sig2_out(x: float, up: bool) -> float:
    """Round to 2 significant digits away from the centre (down for a low, up for a high)."""
    exp = math.floor(math.log10(x)) - 1
    scaled = x / 10**exp
    digits = math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9)
    return float(f"{digits}e{exp}")


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def derived_ratios(ref_dir: Path) -> pd.DataFrame:
    d = pd.read_csv(ref_dir / "gpu-benchmarks" / DERIVED_FILE, encoding="utf-8-sig")
    return d[d["ratio"] > 0]


def evidence_ratios(derived: pd.DataFrame, gpu: str) -> list[float]:
    names = EVIDENCE_ROWS[gpu]
    rows = derived[derived["gpu"].map(lambda g: any(g.startswith(n) for n in names))]
    if rows.empty:
        raise SystemExit(f"{gpu}: no rows in {DERIVED_FILE} match {names}")
    return [float(r) for r in rows["ratio"]]


def legacy_ratios(ref_dir: Path, row: str) -> list[float]:
    """Per-benchmark ratios of one single-GPU row of the legacy-2022 FP16 file vs its own
    A100 80GB SXM4 row (same harness, same run)."""
    d = pd.read_csv(ref_dir / "gpu-benchmarks" / LEGACY_FP16_FILE, encoding="utf-8-sig")
    d = d.set_index("name_gpu")
    ref = d.loc["A100 80GB SXM4"]
    return [float(d.loc[row, c] / ref[c]) for c in TRANSFORMERS if d.loc[row, c] > 0]


def estimate_proxies(
    gpu: str, spec_model: float, fit: Fit, measured: dict[str, float], ref_dir: Path
) -> list[Proxy]:
    """Independent estimates of an unmeasured GPU from measured siblings in the benchmark
    files (specs from the datasheets named in the labels). Empty where no sibling is close
    enough to say more than the spec model."""
    model = Proxy("spec model x rho_arch", spec_model)
    if gpu == "T4":
        # Quadro RTX 5000: the same TU104 die with 16 GB like the T4; datasheet 89.2 TF FP16
        # tensor, 448 GB/s, 230 W. T4: 65 TF, 320 GB/s, 70 W.
        qrtx5000 = geomean(legacy_ratios(ref_dir, "Quadro RTX 5000"))
        scale = fit.model(65, 320) / fit.model(89.2, 448)
        v100 = measured["V100"]
        return [
            model,
            Proxy(
                f"Quadro RTX 5000 (TU104, 16 GB; legacy-2022 geomean {qrtx5000:.3f}) x spec-model "
                f"ratio T4/RTX 5000 {scale:.2f}",
                qrtx5000 * scale,
            ),
            Proxy(f"V100 {v100:g} x bandwidth 320/900 GB/s", v100 * 320 / 900),
            Proxy(f"V100 {v100:g} x board power 70/300 W", v100 * 70 / 300),
        ]
    if gpu == "L4":
        # RTX 6000 Ada: Ada like the L4; 300 W, 960 GB/s. A10: 125 TF, 600 GB/s, 150 W.
        # L4: 121 TF, 300 GB/s, 72 W.
        ada = geomean(evidence_ratios(derived_ratios(ref_dir), "L40S"))
        a10 = measured["A10"]
        scale = fit.model(121, 300) / fit.model(125, 600)
        return [
            model,
            Proxy(f"A10 {a10:g} x spec-model ratio L4/A10 {scale:.2f}", a10 * scale),
            Proxy(f"A10 {a10:g} x board power 72/150 W", a10 * 72 / 150),
            Proxy(f"RTX 6000 Ada (v1 geomean {ada:.2f}) x board power 72/300 W", ada * 72 / 300),
            Proxy(f"RTX 6000 Ada {ada:.2f} x bandwidth 300/960 GB/s", ada * 300 / 960),
        ]
    if gpu == "H100-NVL":
        # Same GH100 as the measured H100 PCIe (756 TF, 350 W) and SXM (989 TF, 700 W); NVL:
        # 835 TF at 400 W, with more bandwidth (3.9 TB/s) than either.
        pcie, sxm = measured["H100 PCIe"], measured["H100"]
        t = math.log(835 / 756) / math.log(989 / 756)
        return [
            model,
            Proxy(
                f"H100 PCIe {pcie:g} to SXM {sxm:g}, log-interpolated by dense BF16 peak "
                f"(756 -> 835 -> 989 TF)",
                pcie * (sxm / pcie) ** t,
            ),
            Proxy(f"H100 PCIe {pcie:g} x board power 400/350 W", pcie * 400 / 350),
            Proxy(f"H100 SXM {sxm:g} x board power 400/700 W", sxm * 400 / 700),
        ]
    return []


def compute_rate(bf16: float | None, fp32: float | None) -> float | None:
    """C in the model: dense BF16 (FP16 tensor) TFLOPS, or FP32 where there are no tensor cores."""
    if bf16 is not None and not math.isnan(bf16):
        return bf16
    if fp32 is not None and not math.isnan(fp32):
        return fp32
    return None


@dataclass
class Fit:
    k: float
    a: float
    n: int
    median_abs_err: float
    rows: list[tuple[str, float, float, float, float]]  # name, C, B, measured, model

    def model(self, c: float, b: float) -> float:
        return self.k * (c / REF_BF16) ** self.a * (b / REF_BW) ** (1 - self.a)


def fit_model(ref: pd.DataFrame) -> Fit:
    """Least squares in log space: log r - log(B/B0) = log k + a (log(C/C0) - log(B/B0))."""
    xs, ys, pts = [], [], []
    for name in FIT_ROWS:
        row = ref.loc[name]
        c, b, r = (
            float(row["bf16_tflops_dense"]),
            float(row["mem_bw_gbs"]),
            float(row["rel_train_throughput_a100"]),
        )
        lb = math.log(b / REF_BW)
        xs.append(math.log(c / REF_BF16) - lb)
        ys.append(math.log(r) - lb)
        pts.append((name, c, b, r))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    k = math.exp(my - a * mx)
    fit = Fit(k, a, len(pts), 0.0, [])
    errs = []
    for name, c, b, r in pts:
        m = fit.model(c, b)
        fit.rows.append((name, c, b, r, m))
        errs.append(abs(m / r - 1))
    fit.median_abs_err = statistics.median(errs)
    if not (0.0 <= a <= 1.0 and 0.5 < k < 2.0):
        raise SystemExit(f"implausible fit: k={k:.3f}, a={a:.3f}")
    return fit


def load_reference(ref_dir: Path) -> pd.DataFrame:
    df = pd.read_csv(ref_dir / "gpus.csv", encoding="utf-8-sig")
    if df["gpu"].duplicated().any():
        raise SystemExit("duplicate gpu names in reference/gpus.csv")
    return df.set_index("gpu")


def arch_of(ref_name: str) -> str:
    for c in CANON:
        if c.ref_row == ref_name:
            return c.arch
    return REF_ARCH[ref_name]


def arch_corrections(ref: pd.DataFrame, fit: Fit) -> dict[str, tuple[float, list[str]]]:
    """rho_arch = geometric mean of measured / model over measured GPUs of that architecture."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for name in (*FIT_ROWS, *ARCH_EXTRA):
        row = ref.loc[name]
        c = compute_rate(float(row["bf16_tflops_dense"]), float(row["fp32_tflops"]))
        assert c is not None
        ratio = float(row["rel_train_throughput_a100"]) / fit.model(c, float(row["mem_bw_gbs"]))
        groups.setdefault(arch_of(name), []).append((name, ratio))
    return {
        arch: (math.exp(statistics.fmean(math.log(r) for _, r in items)), [n for n, _ in items])
        for arch, items in groups.items()
    }


def check_aliases(df: pd.DataFrame) -> None:
    seen: dict[str, str] = {}
    for _, row in df.iterrows():
        names = [row["gpu"], *row["aliases"].split(";")]
        for n in names:
            key = n.strip().lower()
            if not key:
                raise SystemExit(f"{row['gpu']}: empty alias")
            if key in seen and seen[key] != row["gpu"]:
                raise SystemExit(f"alias {n!r} of {row['gpu']} collides with {seen[key]}")
            if key in seen and n != row["gpu"]:
                raise SystemExit(f"{row['gpu']}: alias {n!r} repeated")
            seen[key] = row["gpu"]


def check_ranges(df: pd.DataFrame) -> None:
    for _, r in df.iterrows():
        g = r["gpu"]
        if not (10 <= r["tdp_w"] <= 2000):
            raise SystemExit(f"{g}: tdp_w {r['tdp_w']} out of range")
        if not (4 <= r["memory_gb"] <= 512):
            raise SystemExit(f"{g}: memory_gb {r['memory_gb']} out of range")
        if not (0.01 <= r["rel_throughput"] <= 10):
            raise SystemExit(f"{g}: rel_throughput {r['rel_throughput']} out of range")
        if not (50 <= r["mem_bw_gbs"] <= 20000):
            raise SystemExit(f"{g}: mem_bw_gbs {r['mem_bw_gbs']} out of range")
        for col in ("bf16_tflops", "fp32_tflops"):
            v = r[col]
            if v is not None and not pd.isna(v) and not (1 <= v <= 5000):
                raise SystemExit(f"{g}: {col} {v} out of range")
        if not (0 < r["rel_throughput_low"] <= r["rel_throughput"] <= r["rel_throughput_high"]):
            raise SystemExit(f"{g}: rel_throughput outside its range")
    ix = df.set_index("gpu")["rel_throughput"]
    if ix["A100-80GB"] != 1.0:
        raise SystemExit("A100-80GB must be the reference (1.0)")


@dataclass
class Built:
    table: pd.DataFrame
    fit: Fit
    rho: dict[str, tuple[float, list[str]]]
    raw_estimates: dict[str, float]
    proxies: dict[str, list[Proxy]]
    range_notes: dict[str, str]


def build(ref_dir: Path) -> Built:
    ref = load_reference(ref_dir)
    fit = fit_model(ref)
    rho = arch_corrections(ref, fit)
    rows = []
    raw_estimates: dict[str, float] = {}
    proxies: dict[str, list[Proxy]] = {}
    range_notes: dict[str, str] = {}
    derived = derived_ratios(ref_dir)
    measured = {
        c.gpu: float(ref.loc[c.ref_row, "rel_train_throughput_a100"])
        for c in CANON
        if c.ref_row is not None and not pd.isna(ref.loc[c.ref_row, "rel_train_throughput_a100"])
    }
    measured["H100 PCIe"] = float(ref.loc["H100 PCIe", "rel_train_throughput_a100"])
    formula = f"rel = rho_arch x {fit.k:.3f} x (C/312)^{fit.a:.3f} x (B/2039)^{1 - fit.a:.3f}"
    for c in CANON:
        if c.ref_row is not None:
            r = ref.loc[c.ref_row]
            spec: dict[str, float | None] = {
                "tdp_w": r["tdp_w"],
                "memory_gb": r["memory_gb"],
                "bf16_tflops": r["bf16_tflops_dense"],
                "fp32_tflops": r["fp32_tflops"],
                "mem_bw_gbs": r["mem_bw_gbs"],
            }
            vendor = str(r["vendor"])
            spec_source = f"reference/gpus.csv row '{c.ref_row}' ({c.spec_note})"
            factor = r["rel_train_throughput_a100"]
        else:
            spec = dict(DATASHEET[c.gpu])
            vendor = "NVIDIA"
            spec_source = c.spec_note
            factor = float("nan")
        spec = {k: (None if v is None or pd.isna(v) else float(v)) for k, v in spec.items()}
        if not pd.isna(factor):
            rel = float(factor)
            basis = "measured"
            source = c.throughput_note
            if not source:
                raise SystemExit(f"{c.gpu}: measured factor without an evidence summary")
            if c.gpu == "A100-80GB":
                low = high = rel
                range_notes[c.gpu] = "the reference: exactly 1"
            elif c.gpu in EVIDENCE_ROWS:
                ratios = evidence_ratios(derived, c.gpu)
                low = sig2_out(min([*ratios, rel]), up=False)
                high = sig2_out(max([*ratios, rel]), up=True)
                range_notes[c.gpu] = (
                    f"min-max of {len(ratios)} per-benchmark ratios "
                    f"({min(ratios):.3f}-{max(ratios):.3f})"
                )
            else:
                low = sig2_out(rel * (1 - INDIRECT_BAND), up=False)
                high = sig2_out(rel * (1 + INDIRECT_BAND), up=True)
                range_notes[c.gpu] = f"+-{INDIRECT_BAND:.0%}: {INDIRECT_WHY[c.gpu]}"
            source += f"; range {fmt_num(low)}-{fmt_num(high)}: {range_notes[c.gpu]}"
        else:
            rate = compute_rate(spec["bf16_tflops"], spec["fp32_tflops"])
            if rate is None or spec["mem_bw_gbs"] is None:
                raise SystemExit(f"{c.gpu}: no factor and not enough specs to estimate one")
            raw = fit.model(rate, spec["mem_bw_gbs"])
            raw_estimates[c.gpu] = raw
            corr = rho.get(c.arch, (1.0, []))[0]
            basis = "estimated"
            corr_txt = (
                f"rho_{c.arch}={corr:.2f}"
                if c.arch in rho
                else f"no measured {c.arch} GPU in the fit so rho=1"
            )
            spec_txt = (
                f"{formula} ({corr_txt}), fitted on {fit.n} measured GPUs (median abs error "
                f"{fit.median_abs_err * 100:.0f}%)"
            )
            found = estimate_proxies(c.gpu, raw * corr, fit, measured, ref_dir)
            values = [x.value for x in found] or [raw * corr]
            rel = sig2(geomean(values))
            if found:
                proxies[c.gpu] = found
                listed = "; ".join(f"{x.label} = {x.value:.3f}" for x in found)
                source = (
                    f"estimated: no benchmark of the {c.gpu} in the {CHECKED_FILES}; geomean of "
                    f"{len(found)} proxies: {listed} (spec model: {spec_txt})"
                )
            else:
                source = f"estimated from specs: {spec_txt}"
            low = sig2_out(min([*values, rel * (1 - ESTIMATE_BAND)]), up=False)
            high = sig2_out(max([*values, rel * (1 + ESTIMATE_BAND)]), up=True)
            range_notes[c.gpu] = (
                f"spread of the {len(found)} proxies, at least +-{ESTIMATE_BAND:.0%}"
                if found
                else f"+-{ESTIMATE_BAND:.0%} (spec model only)"
            )
            source += f"; range {fmt_num(low)}-{fmt_num(high)}: {range_notes[c.gpu]}"
        rows.append(
            {
                "gpu": c.gpu,
                "aliases": ";".join(c.aliases),
                "vendor": vendor,
                "tdp_w": round(spec["tdp_w"]) if spec["tdp_w"] is not None else None,
                "memory_gb": spec["memory_gb"],
                "bf16_tflops": spec["bf16_tflops"],
                "fp32_tflops": spec["fp32_tflops"],
                "mem_bw_gbs": spec["mem_bw_gbs"],
                "rel_throughput": rel,
                "rel_throughput_low": low,
                "rel_throughput_high": high,
                "throughput_basis": basis,
                "throughput_source": source,
                "spec_source": spec_source,
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df["tdp_w"].isna().any() or df["memory_gb"].isna().any():
        raise SystemExit("every GPU needs tdp_w and memory_gb")
    check_aliases(df)
    check_ranges(df)
    return Built(df, fit, rho, raw_estimates, proxies, range_notes)


def fmt_num(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    f = float(v)  # type: ignore[arg-type]
    return str(int(f)) if f.is_integer() else f"{f:g}"


def to_csv(df: pd.DataFrame, path: Path) -> None:
    out = df.copy()
    for col in (
        "memory_gb",
        "bf16_tflops",
        "fp32_tflops",
        "mem_bw_gbs",
        "rel_throughput",
        "rel_throughput_low",
        "rel_throughput_high",
    ):
        out[col] = out[col].map(fmt_num)
    out["tdp_w"] = out["tdp_w"].astype(int)
    out.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def evidence_table(ref_dir: Path) -> str:
    path = ref_dir / "gpu-benchmarks" / "derived-relative-throughput-vs-a100-80gb-sxm4.csv"
    d = pd.read_csv(path, encoding="utf-8-sig")
    d = d[d["ratio"] > 0]
    g = d.groupby("gpu", sort=True)["ratio"].agg(
        n="size",
        geomean=lambda s: math.exp(sum(math.log(x) for x in s) / len(s)),
        lo="min",
        hi="max",
    )
    lines = [
        "| benchmark row (derived file) | n | geomean | min | max |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in g.iterrows():
        lines.append(
            f"| {name} | {int(r['n'])} | {r['geomean']:.2f} | {r['lo']:.2f} | {r['hi']:.2f} |"
        )
    return "\n".join(lines)


def crosscheck_table(df: pd.DataFrame, ref_dir: Path) -> str:
    ml = pd.read_csv(ref_dir / "mlco2-impact" / "gpus.csv", encoding="utf-8-sig")
    ml.columns = [c.strip() for c in ml.columns]
    ml = ml.set_index("name")
    ga = pd.read_csv(
        ref_dir / "green-algorithms" / "TDP_gpu.csv", skiprows=[0], encoding="utf-8-sig"
    ).set_index("model")
    ml_map = {
        "K80": "Tesla K80",
        "P100": "Tesla P100",
        "V100": "Tesla V100-SXM2-16GB",
        "V100-32GB": "Tesla V100-SXM2-32GB",
        "T4": "T4",
        "A10G": "A10G",
        "L4": "L4",
        "L40S": "L40S",
        "A100-80GB": "A100 SXM4 80 GB",
        "A100-80GB-PCIE": "A100 PCIe 40/80GB",
        "H100": "H100 SXM",
        "H100-NVL": "H100 NVL",
    }
    ga_map = {
        "K80": "NVIDIA Tesla K80",
        "P4": "NVIDIA Tesla P4",
        "P100": "NVIDIA Tesla P100",
        "V100": "NVIDIA Tesla V100",
        "T4": "NVIDIA Tesla T4",
        "A100-80GB-PCIE": "NVIDIA A100 80GB PCIe",
    }
    lines = [
        "| gpu | tdp_w (here) | mlco2-impact tdp_watts | green-algorithms TDP | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    notes = {
        "K80": "others give the 2-die board (300 W); clouds expose one die",
        "V100": "mlco2 row reads 250 W for SXM2 16GB (datasheet 300 W)",
        "A10G": "mlco2 row is malformed (8 fields) and assumes 150 W; g5 caps at 300 W",
        "A100-80GB-PCIE": "mlco2 row reads 250 W (the 40 GB PCIe figure)",
    }
    for _, r in df.iterrows():
        g = r["gpu"]
        m = ml.loc[ml_map[g], "tdp_watts"] if g in ml_map else ""
        a = ga.loc[ga_map[g], "TDP"] if g in ga_map else ""
        if m == "" and a == "":
            continue
        lines.append(
            f"| {g} | {r['tdp_w']} | {fmt_num(m) if m != '' else ''} | "
            f"{fmt_num(a) if a != '' else ''} | {notes.get(g, '')} |"
        )
    return "\n".join(lines)


def write_report(b: Built, ref_dir: Path, path: Path) -> None:
    df, fit = b.table, b.fit
    fit_lines = [
        "| reference row | C (TFLOPS) | B (GB/s) | measured | model | residual |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, c, bw, r, m in fit.rows:
        fit_lines.append(
            f"| {name} | {c:g} | {bw:g} | {r:g} | {m:.3f} | {(m / r - 1) * 100:+.0f}% |"
        )
    ref = load_reference(ref_dir)
    for name in ("K80", "P100 PCIe 16GB", "L40S", "A10G", "MI300X"):
        row = ref.loc[name]
        rate = compute_rate(float(row["bf16_tflops_dense"]), float(row["fp32_tflops"]))
        assert rate is not None
        model = fit.model(rate, float(row["mem_bw_gbs"]))
        meas = float(row["rel_train_throughput_a100"])
        fit_lines.append(
            f"| {name} (not fitted) | {rate:g} | {row['mem_bw_gbs']:g} | "
            f"{meas:g} | {model:.3f} | {(model / meas - 1) * 100:+.0f}% |"
        )
    rho_lines = ["| architecture | rho | from |", "| --- | --- | --- |"]
    for arch_name, (val, names) in sorted(b.rho.items()):
        rho_lines.append(f"| {arch_name} | {val:.3f} | {', '.join(names)} |")
    est_lines = [
        "| gpu | arch | C | B | model (rho=1) | rho | rel_throughput |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    arch = {c.gpu: c.arch for c in CANON}
    for _, est in df[df["throughput_basis"] == "estimated"].iterrows():
        g = est["gpu"]
        rate = compute_rate(est["bf16_tflops"], est["fp32_tflops"])
        assert rate is not None
        rho = b.rho.get(arch[g], (1.0, []))[0]
        est_lines.append(
            f"| {g} | {arch[g]} | {rate:g} | {est['mem_bw_gbs']:g} | "
            f"{b.raw_estimates[g]:.3f} | {rho:.2f} | {est['rel_throughput']:g} |"
        )
    main_lines = [
        "| gpu | tdp_w | memory_gb | bf16_tflops | fp32_tflops | mem_bw_gbs | "
        "rel_throughput | low | high | basis |",
        "|" + " --- |" * 10,
    ]
    for _, r in df.iterrows():
        main_lines.append(
            "| "
            + " | ".join(
                [r["gpu"], str(r["tdp_w"])]
                + [
                    fmt_num(r[c])
                    for c in (
                        "memory_gb",
                        "bf16_tflops",
                        "fp32_tflops",
                        "mem_bw_gbs",
                        "rel_throughput",
                        "rel_throughput_low",
                        "rel_throughput_high",
                    )
                ]
                + [r["throughput_basis"]]
            )
            + " |"
        )
    proxy_lines = [
        "| gpu | proxy | value |",
        "| --- | --- | --- |",
    ]
    for g, found in b.proxies.items():
        for x in found:
            proxy_lines.append(f"| {g} | {x.label} | {x.value:.3f} |")
        rel = df.set_index("gpu").loc[g, "rel_throughput"]
        proxy_lines.append(f"| {g} | **geometric mean, 2 significant digits** | **{rel:g}** |")
    range_lines = [
        "| gpu | rel_throughput | low | high | basis | how |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for _, r in df.iterrows():
        range_lines.append(
            f"| {r['gpu']} | {fmt_num(r['rel_throughput'])} | {fmt_num(r['rel_throughput_low'])} "
            f"| {fmt_num(r['rel_throughput_high'])} | {r['throughput_basis']} | "
            f"{b.range_notes[r['gpu']]} |"
        )
    mapping = "\n".join(f"| {c.gpu} | {c.ref_row or '(datasheet)'} | {c.arch} |" for c in CANON)
    datasheet = "\n".join(f"- **{c.gpu}**: {c.spec_note}." for c in CANON if c.ref_row is None)
    excluded = "\n".join(f"- {k}: {v}" for k, v in FIT_EXCLUDED.items())

    text = f"""# gpus.csv

Built by `scripts/build_gpus.py` from `shared/reference/gpus.csv` (do not edit by hand; rerun
the script). One row per canonical GPU name used in the offers ({len(df)} rows).

## Columns

- `gpu`: canonical name (the name offers use).
- `aliases`: `;`-separated other spellings (lower case; match case-insensitively). No alias
  equals another GPU's name or alias (the script asserts this).
- `vendor`.
- `tdp_w`: board power in W, per GPU as the cloud exposes it (K80: one GK210 die, 150 W).
- `memory_gb`: GPU memory in GB.
- `bf16_tflops`: dense BF16 tensor TFLOPS (FP16 tensor for V100/T4, which lack BF16; empty
  for K80/P100/P4, which have no tensor cores).
- `fp32_tflops`: FP32 (non-tensor) TFLOPS; empty where no figure was entered.
- `mem_bw_gbs`: memory bandwidth in GB/s.
- `rel_throughput`: training throughput relative to A100 80GB SXM (= 1.0): how many A100-80GB
  GPU-hours one GPU-hour of this GPU replaces. The planner uses it for every job, whether
  given in GPU-hours or sized from FLOPs (FLOPs become A100-80GB hours at its peak x MFU).
- `rel_throughput_low`, `rel_throughput_high`: the plausible range of that factor from the
  spread of its evidence (method under "Ranges"); low <= rel_throughput <= high.
- `throughput_basis`: `measured` (factor from `reference/gpus.csv`, with benchmark evidence)
  or `estimated` (spec model below).
- `throughput_source`: one-line evidence summary, or the estimation formula.
- `spec_source`: where the spec figures come from.

## Table

{chr(10).join(main_lines)}

## Canonical name mapping

| gpu | reference/gpus.csv row | architecture |
| --- | --- | --- |
{mapping}

A100 = A100 40GB SXM; A100-80GB = A100 80GB SXM (the reference); A100-80GB-PCIE = A100 80GB
PCIe; V100 = V100 SXM2 16GB; V100-32GB = V100 SXM2 32GB; H100 = H100 SXM; H100-NVL = H100 NVL
94GB PCIe (Azure NC H100 v5); H200 = H200 SXM; B300 = HGX B300 (AWS p6-b300); GB200 = GB200
per GPU (Azure ND GB200 v6); RTX-PRO-6000 = RTX PRO 6000 Blackwell Server Edition (AWS g7e,
Azure NC RTXPRO6000BSE v6).

Figures entered from datasheets (not in `reference/gpus.csv`):

{datasheet}

## Throughput estimate

Measured factors (`reference/gpus.csv` `rel_train_throughput_a100`) are kept as they are. For
GPUs without one, a single spec model is fitted on the measured tensor-core GPUs:

    model = k x (C / 312)^a x (B / 2039)^(1 - a)
    rel   = rho_arch x model, rounded to 2 significant digits

C = dense BF16 (or FP16 tensor) TFLOPS, or FP32 TFLOPS for GPUs without tensor cores;
B = memory bandwidth in GB/s; 312 and 2039 are the A100 80GB SXM figures. k and a are fitted
by ordinary least squares in log space over {fit.n} reference rows:
**k = {fit.k:.3f}, a = {fit.a:.3f}**, median absolute error {fit.median_abs_err * 100:.1f}%.
The fit is dominated by memory bandwidth (1 - a = {1 - fit.a:.2f}).

`rho_arch` is the geometric mean of measured / model over the measured GPUs of the same
architecture (1 where none was measured). It keeps an estimate consistent with its measured
siblings: without it B300 (same C and B as B200) would be estimated at
{b.raw_estimates.get("B300", float("nan")):.2f}, although B200 with the same specs measures 3.3
(the model overshoots the measured B200 by {(fit.rows[-1][4] / fit.rows[-1][3] - 1) * 100:.0f}%).

Fit rows and residuals (residual = model / measured - 1; the last rows were not fitted and
show how the model does on them):

{chr(10).join(fit_lines)}

Rows left out of the fit: {len(FIT_EXCLUDED)}.

{excluded}

Architecture corrections:

{chr(10).join(rho_lines)}

Estimated rows (spec model only; T4, L4 and H100-NVL then combine it with proxies below):

{chr(10).join(est_lines)}

The spec model has no power term, so power-capped cards (T4 70 W, L4 72 W, H100 NVL 400 W)
come out high on it alone: H100-NVL level with the 700 W H100 SXM, because the fit weights
bandwidth heavily. No benchmark file measures T4, L4 or H100 NVL ({CHECKED_FILES}
checked), but each has measured siblings, so its factor is the geometric mean of the spec
model and sibling proxies scaled by the datasheet figure that most limits it (tensor peak
and bandwidth through the spec model, board power, or bandwidth alone):

{chr(10).join(proxy_lines)}

Siblings' specs, from their datasheets: Quadro RTX 5000 (TU104 like the T4, 16 GB) 89.2 TF
FP16 tensor, 448 GB/s, 230 W; RTX 6000 Ada 300 W, 960 GB/s; A10 125 TF, 600 GB/s, 150 W;
H100 PCIe 756 TF, 2.0 TB/s, 350 W; H100 SXM 989 TF, 3.35 TB/s, 700 W. `reference/gpus.csv`
had suggested 0.12 (T4) and 0.17 (L4) from power-scaled estimates; the proxies land on 0.12
and 0.18. All factors come from single-GPU FP16 training of small transformers without FP8;
LLM-scale FP8 training favours H100/H200/B200 more (about 3x A100 for H100 per MosaicML).

## Ranges

`rel_throughput_low` / `rel_throughput_high` bound each factor by the spread of its evidence,
rounded outwards to 2 significant digits and always containing the factor:

- measured, with per-benchmark ratios in `gpu-benchmarks/{DERIVED_FILE}`: the min and max of
  the ratios behind the factor (BERT base/large, Transformer-XL base/large; every system and
  run listed for that GPU or its proxy);
- measured indirectly (K80, P100 from FP32 ResNet-50; MI300X from an MLPerf mapping): +-30%;
- estimated: the min and max of its proxies above, and never narrower than +-30% (the spec
  model's residuals reach +32% on the GPUs it was fitted on, and +56% on measured GPUs left
  out of the fit); spec-model-only estimates get +-30%.

{chr(10).join(range_lines)}

## Benchmark evidence

Geometric means of the per-model ratios in
`gpu-benchmarks/derived-relative-throughput-vs-a100-80gb-sxm4.csv` (BERT base/large and
Transformer-XL base/large, FP16, vs A100 80GB SXM4 in the same file):

{evidence_table(ref_dir)}

## TDP cross-check

{crosscheck_table(df, ref_dir)}
"""
    path.write_text(text, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    built = build(args.reference)
    args.out.mkdir(parents=True, exist_ok=True)
    to_csv(built.table, args.out / "gpus.csv")
    write_report(built, args.reference, args.out / "GPUS.md")
    print(f"wrote {len(built.table)} GPUs to {args.out / 'gpus.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
