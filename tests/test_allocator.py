"""dive.allocator: glibc's malloc keeps freed memory for the next training step (and gives it back when a run
ends), the same numbers bit for bit; untouched with $DIVE_MALLOC=system, on another C library, or where the process
was started with malloc settings of its own. Each case runs in a fresh process: malloc's settings are per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dive import allocator

glibc_only = pytest.mark.skipif(
    allocator._libc() is None, reason="glibc only: another C library's malloc is left as it is (tested below)"
)

# a fresh process: report whether a 64 MiB tensor lands in an mmap-ed block, before and after dive trains
PROBE = textwrap.dedent(
    """
    import json, torch
    from dive import allocator
    from dive.train import fit
    from dive.models import build_model

    def mmapped_64():
        before = allocator.mmapped_bytes()
        t = torch.ones(16 << 20)  # 64 MiB, touched
        got = allocator.mmapped_bytes() - before
        del t
        return got

    out = {"before": mmapped_64()}
    torch.manual_seed(0)
    net = build_model("simplecnn", 2, 1)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 2, (8,))
    fit(net, [(x, y)], [(x, y)], epochs=1, device="cpu", quiet=True)
    out["after_fit"] = mmapped_64()
    out["set"] = allocator.keep_freed_memory()
    print(json.dumps(out))
    """
)


def _glibc_by_confstr() -> bool:
    """Whether this process runs on glibc, asked another way than dive.allocator asks (its platform.libc_ver)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a POSIX confstr, or no such name: not glibc
        return False


def test_the_glibc_only_tests_skip_only_where_there_is_no_glibc():
    """The tests below (and bench case (i)'s) skip where ``allocator._libc()`` finds no glibc. So that a lookup
    broken on glibc cannot turn them into silent skips (CI runs on glibc), it must find glibc exactly where
    ``os.confstr`` says the process runs on it: this test never skips."""
    assert (allocator._libc() is not None) == _glibc_by_confstr()


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != allocator.ENV and not k.startswith("MALLOC_")}
    full.pop("GLIBC_TUNABLES", None)
    full.update(OMP_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)


def _probe(**env) -> dict:
    p = _run(PROBE, **env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@glibc_only
def test_training_keeps_large_blocks_on_the_heap():
    got = _probe()
    assert got["before"] >= 64 << 20, got  # glibc's default: a block this large is mmap-ed afresh
    assert got["after_fit"] == 0 and got["set"].startswith("glibc malloc: M_MMAP_MAX 0"), got


@glibc_only
@pytest.mark.parametrize(
    "env",
    [{"DIVE_MALLOC": "system"}, {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}, {"MALLOC_ARENA_MAX_": "2"}],
    ids=["DIVE_MALLOC=system", "GLIBC_TUNABLES", "MALLOC_ARENA_MAX_"],
)
def test_left_alone_when_asked_or_set_by_the_user(env):
    got = _probe(**env)
    assert got["after_fit"] >= 64 << 20 and got["set"] is None, got


@glibc_only
def test_a_bad_value_names_the_variable():
    p = _run(PROBE, DIVE_MALLOC="jemalloc")
    assert p.returncode != 0 and "$DIVE_MALLOC='jemalloc' is not one of keep, system" in p.stderr


def test_not_glibc_changes_nothing(monkeypatch):
    monkeypatch.setattr(allocator, "_libc", lambda: None)
    monkeypatch.setattr(allocator, "_state", {})
    assert allocator.keep_freed_memory() is None and allocator.release_freed_memory() is False
    assert allocator.mmapped_bytes() is None


@glibc_only
def test_the_free_memory_goes_back_when_a_run_ends():
    """With freed memory kept, 512 MiB freed stay resident until release_freed_memory (called at the end of fit)."""
    code = textwrap.dedent(
        """
        import json, torch
        from dive import allocator
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096
        allocator.keep_freed_memory()
        base = rss()
        t = torch.ones(128 << 20)  # 512 MiB, touched
        del t
        kept = rss() - base
        released = allocator.release_freed_memory()
        print(json.dumps({"kept": kept, "released": released, "after": rss() - base}))
        """
    )
    p = _run(code)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["kept"] >= 400 << 20 and got["released"] is True and got["after"] < 100 << 20, got


@glibc_only
def test_the_same_weights_bit_for_bit():
    """Only where memory comes from changes: an AlexNet (its 151 MB layer is what the setting is for) trained a few
    steps with and without it ends with identical weights."""
    code = textwrap.dedent(
        """
        import hashlib, torch
        from dive.train import fit
        from dive.models import build_model
        torch.manual_seed(0)
        net = build_model("alexnet", 2, 1)
        g = torch.Generator().manual_seed(1)
        data = [(torch.randn(4, 1, 32, 32, generator=g), torch.randint(0, 2, (4,), generator=g)) for _ in range(3)]
        fit(net, data, data[:1], epochs=1, optimizer="adam", lr=1e-4, device="cpu", quiet=True, seed=0)
        h = hashlib.sha256()
        for v in net.state_dict().values():
            h.update(v.detach().contiguous().numpy().tobytes())
        print(h.hexdigest())
        """
    )
    runs = {mode: _run(code, DIVE_MALLOC=mode) for mode in allocator.MODES}
    for mode, p in runs.items():
        assert p.returncode == 0, (mode, p.stderr)
    assert runs["keep"].stdout == runs["system"].stdout and len(runs["keep"].stdout.strip()) == 64
