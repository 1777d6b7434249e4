"""The results page's sections, as data: one question each, its MLflow experiment, the text
that says why, and the sweeps (space, task, seeds) that answer it, in the order `make results`
runs them. The claims each section judges are ``reports.findings``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    experiment: str
    title: str
    why: str
    spaces: tuple[tuple[str, str, int], ...]  # (space, task, seeds): one sweep each, in make order
    device: str = "cpu"  # "cuda": runs where a GPU is visible (make results-gpu), listed as not run elsewhere
    links: str = "100mbit,1gbit"  # the links its tables' cost and time-to-target columns are at
    soonest: bool = False  # say which row reaches the target soonest at each link, and by how much


SECTIONS = [
    Section(
        "results-collapse",
        "Why min-max uniform quantization collapses training",
        "The study saw uniform quantization collapse at bit widths where its error is small. We "
        "compress the forward only, the backward only, or both, then both with unbiased "
        "(stochastic) rounding, with a symmetric grid that has zero as a code (`range=absmax`), "
        "and with a clipped range (`clip=99.9`, still min-max). Two explanations predict different "
        "rows. If the damage is the rounding bias of the gradients, unbiased stochastic rounding "
        "removes it. If it is that a min-max grid has no code for zero, so the many exact-zero "
        "gradients (inactive units, padding) all come back as a non-zero value of the order of the "
        "step, then stochastic rounding does not help (it only makes that value random) and only a "
        "grid with zero as a code (absmax) does. Either way the backward alone should collapse and "
        "the forward alone should not. Rows a collapse claim rests on get 5 seeds, the others 3 (the "
        "page's list of short rows gives the `rerun` command that brings them there).",
        (("collapse", "fashion_mnist", 5), ("collapse-nlp", "rotten_tomatoes", 3)),
    ),
    Section(
        "results-cause",
        "What in the legacy recipe turns the gradient collapse on",
        "The v2 page's collapse was real and tied to the backward pass: on the legacy recipe (SGD at "
        "lr 0.01, the model's BatchNorm momentum 0.01, random crop and flip, no warm-up), 4000 images at "
        "32 px for 3 epochs, {v2_legacy_collapse}. Here the legacy setting runs again with one "
        "factor at a time set to finetune's "
        "value (each row's `recipe` overrides name it), on the rows that collapse rests on: `none`, "
        "backward-only 4 and 8 bits, and 4-bit absmax both ways.",
        (("cause", "fashion_mnist", 3),),
    ),
    Section(
        "results-cv224",
        "The study's CV claim at the study's cut sizes",
        "At the CV default's 64 px our first cut is [B,32,32,32]; the study's was [B,32,112,112], "
        "12 times more values per tensor and so a wider min-max range. EfficientNet-Lite0 at 224 px has the "
        "study's cut shapes. We test its uniform rows (16/10/9/8 bits) there, with the two fixes, "
        "on 640/320 images. The issue's other rows (4 bits, sort quantization 6+2 and 2+2, k-means) "
        "on 1000/500 images are the `cv224` space; with a trial on 640 images taking a median "
        "{trial_minutes} min on this CPU, they did not fit a sitting beside the other sweeps "
        "(`python sweep.py run --space cv224 --seeds 3 --name results-cv224-full` runs them).",
        (("cv224-uniform", "fashion_mnist", 3),),
    ),
    Section(
        "results-beyond",
        "Beyond the study: AQ-SGD delta compression and quantizers with an exact zero",
        "At 3 forward bits with an unbiased 8-bit backward (`uniform:b=8,round=stochastic`), the "
        "study's methods beside absmax, clipping, stochastic rounding and AQ-SGD (Wang et al., "
        "NeurIPS 2022), which sends each example's quantized change since the last epoch; plus "
        "AQ-SGD's own 3/6 and 2/4 forward/backward bits. The link columns turn bytes into the "
        "time of a batch at 100 Mbit/s and 1 Gbit/s. Read the delta rows with one caveat: "
        "validation runs through the same boundaries (split inference), and AQ-SGD keeps no "
        "per-example state for validation examples, so it sends them with its direct quantizer of "
        "the same bits (`uniform:b=B,range=absmax` for `delta:b=B`). A delta row's accuracy is therefore that of "
        "the trained model seen through direct 3-bit absmax at evaluation; compare it with the "
        "`uniform:b=3,range=absmax` row, not with `none`; the column *eval uncompressed* "
        "(`val_acc_clean`: the trained model evaluated with every boundary off) gives the model itself, "
        "and the next section judges AQ-SGD by it. The rows train where delta acts: CV {delta_cv}), "
        "NLP {delta_nlp}.",
        (("beyond-cv", "fashion_mnist", 3), ("beyond-nlp", "rotten_tomatoes", 3)),
    ),
    Section(
        "results-aqsgd",
        "AQ-SGD judged by the model it trains",
        "AQ-SGD sends an example's activation exactly the first time it sees it and its quantized change "
        "after that, so it acts only where examples come back: its CV rows train the CV default's "
        "{delta_cv}; a run logs the "
        "fraction, `compressed_fwd_run`, and a claim on a row under one half is untestable), its NLP rows "
        "{delta_nlp} (about the NLP default's steps; its two epochs sent just under half compressed). The section "
        "above evaluates every row through its boundaries, "
        "which sends AQ-SGD's validation examples through its direct quantizer; here each run's last epoch "
        "is also evaluated with every boundary off (`val_acc_clean`, the column *eval uncompressed*): the "
        "quality of the model that training produced, which is what AQ-SGD claims to keep. The claims "
        "below compare `val_acc_clean`; for `none` it equals `val_acc`.",
        (("aqsgd-cv", "fashion_mnist", 3), ("aqsgd-nlp", "rotten_tomatoes", 3)),
    ),
    Section(
        "results-study-scale",
        "The study's CV claims at the study's scale (a GPU's work)",
        "Every CPU section above trains {cpu_steps} optimizer steps; the study fine-tuned for {study_steps}. "
        "Here cv224's rows run at the study's scale: all 60,000 Fashion-MNIST training images at 224 px, "
        "batch 256 (a per-tensor range at the first cut spans the study's {study_range} values), 5 epochs, "
        "evaluated on all 10,000 test images, on EfficientNet-Lite0 (ImageNet weights) and on "
        "torchvision's MobileNetV2 (the study's model; from scratch unless `--weights` names its "
        "ImageNet .pth). It needs a GPU: `make results-gpu` runs it where one is visible.",
        (("study-scale-effnet", "fashion_mnist", 3), ("study-scale-mnv2", "fashion_mnist", 3)),
        device="cuda",
    ),
    Section(
        "results-newer",
        "What came after the study: FP8, rotated low-bit tiles, low rank, a learned bottleneck",
        "The compressors a pipeline today would weigh, each against `none` by the model it trains and by "
        "time to target at slow links: FP8 as Transformer Engine sends it (e4m3 forward, e5m2 backward, one "
        "amax scale a tensor), TAH-Quant's Hadamard-rotated 64-wide tiles beside plain absmax at the same "
        "bits, PowerSGD's low rank and a learned bottleneck at 8x and 16x fewer bytes than fp32, and "
        "AQ-SGD. The low-bit rows send their gradient as AQ-SGD's 6-bit fixed point. Time to target is "
        "the steps a run takes to reach `none`'s final accuracy minus 1 point, times the row's batch time "
        "at the link (serial estimate).",
        (("newer-cv", "fashion_mnist", 3), ("newer-nlp", "rotten_tomatoes", 3)),
        links="10mbit,100mbit",
        soonest=True,
    ),
    Section(
        "results-cv",
        "The study's CV tables on the CV default",
        "The study's MobileNetV2 / CIFAR-10 rows on the embedded CV default (Fashion-MNIST, "
        "EfficientNet-Lite0, one pass over 6000 images at 64 px).",
        (("seed-cv", "fashion_mnist", 3),),
    ),
    Section(
        "results-nlp",
        "The study's NLP tables",
        "The study's RoBERTa-base / GLUE rows on MiniLM and Rotten Tomatoes.",
        (("seed-nlp", "rotten_tomatoes", 3),),
    ),
]


def plan(device: str = "cpu") -> list[tuple[str, str, int]]:
    """The sweeps behind the page on a device, in the order `make results` (cpu) or `make
    results-gpu` (cuda) runs them: (experiment, space, seeds)."""
    return [(s.experiment, space, seeds) for s in SECTIONS if s.device == device for space, _, seeds in s.spaces]
