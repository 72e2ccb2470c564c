"""dive.precision: what "auto" resolves to per device, and that applying a plan keeps training float32."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dive import precision as P

CPU = torch.device("cpu")
CUDA = torch.device("cuda")  # a device object only: nothing here runs on it


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


@pytest.fixture
def cpu_kind(monkeypatch):
    """Pretend the CPU is of a given kind: ``cpu_kind("amx")``, ``cpu_kind(None)`` for no native bf16."""

    def set_kind(kind):
        result = (True, kind) if kind else (False, "no AMX or AVX512-BF16")
        monkeypatch.setattr(P, "cpu_bf16_support", lambda: result)

    return set_kind


# ----------------------------------------------------------------------------- plan resolution


def test_auto_on_a_cpu_without_native_bf16_is_fp32_contiguous(cpu_kind):
    cpu_kind(None)
    for model in ("simplecnn", "resnet18", "xception"):
        p = P.plan(device=CPU, model_name=model)
        assert (p.precision, p.channels_last, p.compile) == ("fp32", False, False)
        assert p.autocast_dtype is None and not p.needs_scaler
        assert "no AMX or AVX512-BF16" in p.reason


def test_auto_on_a_native_bf16_cpu_follows_the_measured_table(cpu_kind, monkeypatch):
    table = {
        "amx": {
            "resnet": P.Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False),
            "simplecnn": P.Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=False, compile=False),
            "alexnet": P.Measured(bf16=False, channels_last_fp32=True, channels_last_bf16=False, compile=False),
        }
    }
    monkeypatch.setattr(P, "CPU_TABLE", table)
    cpu_kind("amx")
    p = P.plan(device=CPU, model_name="resnet152")  # the resnet family shares resnet18's measurement
    assert (p.precision, p.channels_last, p.compile) == ("bf16", True, False)
    assert p.autocast_dtype == torch.bfloat16 and not p.needs_scaler
    assert "measured faster" in p.reason
    assert P.plan(device=CPU, model_name="simplecnn").channels_last is False  # not faster in bf16
    p = P.plan(device=CPU, model_name="alexnet")
    assert (p.precision, p.channels_last) == ("fp32", True)  # bf16 not faster; channels_last is, in fp32
    assert "not faster" in p.reason
    assert P.plan("fp32", device=CPU, model_name="simplecnn").channels_last is True  # fp32's own measurement
    p = P.plan(device=CPU, model_name="xception")  # no row: not measured, so nothing is assumed
    assert (p.precision, p.channels_last) == ("fp32", False) and "not measured" in p.reason
    cpu_kind("avx512_bf16")  # another kind has its own rows
    assert P.plan(device=CPU, model_name="resnet18").precision == "fp32"


def test_an_amx_cpu_uses_the_avx512_bf16_row_of_a_family_it_has_no_row_for(cpu_kind, monkeypatch):
    fast = P.Measured(bf16=True, channels_last_fp32=False, channels_last_bf16=True, compile=False)
    monkeypatch.setattr(P, "CPU_TABLE", {"amx": {}, "avx512_bf16": {"xception": fast}})
    cpu_kind("amx")
    p = P.plan(device=CPU, model_name="xception")
    assert (p.precision, p.channels_last) == ("bf16", True) and "on an avx512_bf16 CPU" in p.reason
    assert P.plan("fp32", device=CPU, model_name="xception").channels_last is False


def test_explicit_settings_win_over_the_table(cpu_kind):
    cpu_kind(None)
    p = P.plan("bf16", True, True, device=CPU, model_name="simplecnn")
    assert (p.precision, p.channels_last, p.compile) == ("bf16", True, True)
    assert "emulated" in p.reason  # honoured, with the warning that it will be slow


def test_fake_cuda_device_capability(monkeypatch):
    monkeypatch.setattr(P, "cuda_bf16_support", lambda device: True)
    p = P.plan(device=CUDA, model_name="resnet18")
    assert (p.precision, p.channels_last, p.compile) == ("bf16", True, False)
    assert not p.needs_scaler

    monkeypatch.setattr(P, "cuda_bf16_support", lambda device: False)  # e.g. a V100 / T4
    p = P.plan(device=CUDA, model_name="xception")
    assert p.precision == "fp16" and p.needs_scaler and p.autocast_dtype == torch.float16
    assert "GradScaler" in p.reason
    with pytest.raises(ValueError, match="not supported by this GPU.*'fp16'"):
        P.plan("bf16", device=CUDA, model_name="resnet18")


def test_grad_scaler_only_for_fp16():
    assert P.grad_scaler(CPU, P.Plan("fp32", False, False)) is None
    assert P.grad_scaler(CPU, P.Plan("bf16", False, False)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available. Disabling" on a CPU-only machine
        scaler = P.grad_scaler(CUDA, P.Plan("fp16", True, False))
    assert isinstance(scaler, torch.amp.GradScaler)


def test_bad_values_fail_listing_the_valid_ones():
    with pytest.raises(ValueError, match="unknown precision 'fp8'.*'auto'.*'fp32'.*'bf16'.*'fp16'"):
        P.plan("fp8", device=CPU, model_name="simplecnn")
    with pytest.raises(ValueError, match="channels_last must be 'auto', True or False"):
        P.plan("fp32", "yes", device=CPU, model_name="simplecnn")
    with pytest.raises(ValueError, match="compile must be False, True or 'auto'"):
        P.plan("fp32", False, "max", device=CPU, model_name="simplecnn")
    with pytest.raises(ValueError, match="'fp16' is for CUDA.*'bf16'"):
        P.plan("fp16", device=CPU, model_name="simplecnn")
    with pytest.raises(ValueError, match="Plan.precision must be one of fp32, bf16, fp16"):
        P.Plan("auto", False, False)
    assert P.plan("BF16", device=CPU, model_name="simplecnn").precision == "bf16"  # case-insensitive


def test_the_table_names_known_model_families():
    from dive.models import MODEL_NAMES

    families = {P.model_family(m) for m in MODEL_NAMES}
    for kind, rows in P.CPU_TABLE.items():
        assert set(rows) <= families, (kind, set(rows) - families)


# ----------------------------------------------------------------------------- applying a plan


def test_channels_last_applies_to_model_and_input():
    plan = P.Plan("fp32", True, False)
    model = P.prepare_model(tiny_net(), CPU, plan)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()
    x = P.prepare_input(torch.randn(2, 3, 8, 8), plan)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    flat = torch.randn(2, 5)
    assert P.prepare_input(flat, plan) is flat  # only 4-d image batches change
    y = torch.randn(2, 3, 8, 8)
    assert P.prepare_input(y, P.Plan("fp32", False, False)) is y


def test_compile_that_raises_falls_back_to_eager_with_one_warning(monkeypatch):
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no compiler here\nsecond line")

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = tiny_net().eval()
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed \(RuntimeError: no compiler here\); running"):
        out = P.prepare_model(model, CPU, P.Plan("fp32", False, True))
    assert out is model
    torch.testing.assert_close(out(x), expected)


def test_compile_that_fails_at_the_first_call_falls_back_too(monkeypatch):
    calls = []

    def lazy_broken_compile(fn, *args, **kwargs):
        def compiled(*a, **k):
            calls.append(1)
            raise RuntimeError("inductor: C++ compile error")

        return compiled

    monkeypatch.setattr(torch, "compile", lazy_broken_compile)
    model = tiny_net().eval()
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    P.prepare_model(model, CPU, P.Plan("fp32", False, True))
    keys = set(model.state_dict())
    with pytest.warns(RuntimeWarning, match="inductor: C.. compile error"):
        torch.testing.assert_close(model(x), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # eager from then on: no second attempt, no second warning
        torch.testing.assert_close(model(x), expected)
    assert calls == [1]
    assert set(model.state_dict()) == keys  # in place: checkpoints keep their keys


def test_an_error_of_the_model_itself_is_not_hidden_as_a_compile_failure(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, *a, **k: fn)  # "compiles" to the eager call
    model = P.prepare_model(tiny_net(), CPU, P.Plan("fp32", False, True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="channels"):
            model(torch.randn(2, 5, 8, 8))  # wrong number of channels


def test_weights_stay_fp32_after_a_bf16_step():
    plan = P.Plan("bf16", True, False)
    model = P.prepare_model(tiny_net(), CPU, plan)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(8, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    with P.autocast(CPU, plan):
        out = model(P.prepare_input(x, plan))
    assert out.dtype == torch.bfloat16  # the arithmetic did run in bfloat16
    loss = F.cross_entropy(out.float(), y)
    assert loss.dtype == torch.float32
    opt.zero_grad()
    loss.backward()
    opt.step()
    for p in model.parameters():
        assert p.dtype == torch.float32 and p.grad.dtype == torch.float32
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))  # it did learn something
    assert all(v.dtype == torch.float32 for v in opt.state_dict()["state"][0].values())
    assert model[1].running_mean.dtype == torch.float32


def test_autocast_serves_evaluation_under_inference_mode():
    model = tiny_net().eval()
    x = torch.randn(4, 3, 8, 8)
    with torch.inference_mode():
        with P.autocast(CPU, P.Plan("bf16", False, False)):
            low = model(x)
        with P.autocast(CPU, P.Plan("fp32", False, False)):
            full = model(x)
    assert low.dtype == torch.bfloat16 and full.dtype == torch.float32
    torch.testing.assert_close(low.float(), full, atol=0.05, rtol=0.05)  # the same predictions, to bf16 precision


def test_a_measurement_does_not_carry_to_a_much_smaller_input(cpu_kind, monkeypatch):
    """bf16 measured faster for ResNet18 at 224 px was 4-9x slower at 32 px: "auto" must not pick it there."""
    cpu_kind("avx512_bf16")
    table = {
        "avx512_bf16": {
            "resnet": P.Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False)
        }
    }
    monkeypatch.setattr(P, "CPU_TABLE", table)
    at_224 = P.plan(device=CPU, model_name="resnet18", image_size=224)
    at_128 = P.plan(device=CPU, model_name="resnet18", image_size=128)
    at_32 = P.plan(device=CPU, model_name="resnet18", image_size=32)
    assert (at_224.precision, at_224.channels_last) == ("bf16", True)
    assert at_128.precision == "bf16"  # within half of the measured side
    assert (at_32.precision, at_32.channels_last) == ("fp32", False) and "not at 32 px" in at_32.reason
    assert P.plan("bf16", device=CPU, model_name="resnet18", image_size=32).precision == "bf16"  # asked for: honoured
