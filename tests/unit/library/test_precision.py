"""Which mixed precision a machine gets: float16 on a GPU, bfloat16 on a CPU with bfloat16
matrix units and oneDNN, float32 otherwise; read from fake ``/proc/cpuinfo`` text."""

from __future__ import annotations

import pytest

from pipeline.library import precision
from pipeline.library.precision import bf16_cpu_flags, choose_mixed_precision
from tests.conftest import need_module


def _cpuinfo(*flag_lines: str) -> str:
    return "\n\n".join(
        f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU\n"
        f"flags\t\t: fpu vme sse sse2 avx2 {flags}\nbugs\t\t: spectre_v1\n"
        for i, flags in enumerate(flag_lines)
    )


def test_amx_and_avx512_bf16_are_found() -> None:
    text = _cpuinfo("avx512f avx512_bf16 amx_tile amx_bf16 amx_int8", "avx512f avx512_bf16 amx_bf16")
    assert bf16_cpu_flags(text) == ("amx_bf16", "avx512_bf16")


@pytest.mark.parametrize("flags", ["avx512f avx512_vnni", "amx_tile amx_int8", "avx512_fp16", ""])
def test_cpus_without_bf16_matrix_units_have_none(flags) -> None:
    assert bf16_cpu_flags(_cpuinfo(flags, flags)) == ()


def test_a_flag_counts_only_when_every_cpu_has_it() -> None:
    assert bf16_cpu_flags(_cpuinfo("amx_bf16 avx512_bf16", "avx512_bf16")) == ("avx512_bf16",)


def test_no_flags_lines_or_no_file_means_none(monkeypatch, tmp_path) -> None:
    assert bf16_cpu_flags("") == ()
    assert bf16_cpu_flags("processor : 0\nmodel name : x\n") == ()
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert bf16_cpu_flags() == ()
    (tmp_path / "cpuinfo").write_text(_cpuinfo("amx_bf16"))
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "cpuinfo")
    assert bf16_cpu_flags() == ("amx_bf16",)


def test_flag_names_must_match_whole_words() -> None:
    assert bf16_cpu_flags(_cpuinfo("xamx_bf16 avx512_bf16x")) == ()


def test_choice_gpu_then_cpu_bf16_with_onednn_then_float32() -> None:
    gpu = choose_mixed_precision(gpu=True, cpu_flags=(), onednn=False)
    assert gpu.policy == "mixed_float16" and gpu.compute_dtype == "float16"
    assert "GPU" in gpu.reason
    cpu = choose_mixed_precision(gpu=False, cpu_flags=("amx_bf16",), onednn=True)
    assert cpu.policy == "mixed_bfloat16" and cpu.compute_dtype == "bfloat16"
    assert "amx_bf16" in cpu.reason
    no_onednn = choose_mixed_precision(gpu=False, cpu_flags=("amx_bf16",), onednn=False)
    assert no_onednn.policy is None and no_onednn.compute_dtype == "float32"
    assert "TF_ENABLE_ONEDNN_OPTS" in no_onednn.reason
    plain = choose_mixed_precision(gpu=False, cpu_flags=(), onednn=True)
    assert plain.policy is None and "slower" in plain.reason


class _FakeBackend:
    def __init__(self, gpus: list[str], onednn: bool) -> None:
        self._gpus, self._onednn = gpus, onednn

    def visible_gpus(self) -> list[str]:
        return self._gpus

    def onednn_enabled(self) -> bool:
        return self._onednn


@pytest.mark.parametrize(
    ("gpus", "onednn", "cpuinfo", "expected"),
    [
        (["H100"], False, _cpuinfo(""), "mixed_float16"),
        ([], True, _cpuinfo("amx_bf16"), "mixed_bfloat16"),
        ([], False, _cpuinfo("amx_bf16"), None),
        ([], True, _cpuinfo("avx2"), None),
    ],
)
def test_explainer_enables_the_chosen_policy_and_notes_it(monkeypatch, tmp_path, gpus, onednn,
                                                          cpuinfo, expected) -> None:
    keras = need_module("keras")
    from pipeline.library import backends
    from pipeline.library.runtime import Explainer

    monkeypatch.setattr(backends, "current", lambda: _FakeBackend(gpus, onednn))
    monkeypatch.setattr(backends, "name", lambda: "tensorflow")
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "cpuinfo")
    ex = Explainer(asset_dir=tmp_path / "assets", profile="quick", seed=0, sizes={},
                   checkpoint_dir=tmp_path / "ckpt")
    try:
        assert ex.enable_mixed_precision() == expected
        assert keras.mixed_precision.global_policy().name == (expected or "float32")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    notes = " ".join(ex.notes)
    if expected == "mixed_bfloat16":
        assert "bfloat16" in notes and "amx_bf16" in notes
    elif expected == "mixed_float16":
        assert "float16" in notes
    else:
        assert "mixed precision" not in notes.lower()


def test_compute_dtype_of_a_policy_name() -> None:
    """The recipes' ``training_compute_dtype`` metric: the policy's arithmetic, float32 without."""
    from pipeline.library.precision import compute_dtype

    assert compute_dtype("mixed_bfloat16") == "bfloat16"
    assert compute_dtype("mixed_float16") == "float16"
    assert compute_dtype(None) == "float32"
