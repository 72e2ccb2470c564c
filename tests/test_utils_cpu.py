"""How a measured time names its machine: the CPU's model name, vendor/family/model numbers and bf16/AMX features,
read from /proc/cpuinfo (here from copies of two hosts' files, so the test does not depend on the host it runs on)."""

from dive import utils

# The first lines of two processors' blocks from the hosts the figures in benchmarks/results.md come from (flags
# cut to the ones that matter), then the second processor's block, which must not be read.
EPYC = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC
stepping	: 1
flags		: fpu sse2 avx2 avx512f avx512_bf16 sha_ni

processor	: 1
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: other
stepping	: 8
flags		: fpu amx_tile amx_bf16
"""

XEON = """processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: Intel(R) Xeon(R) Platinum 8480C
stepping	: 8
flags		: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_an_epyc_is_told_apart_by_its_family_and_model(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(EPYC)
    assert utils.cpu_model(path) == "AMD EPYC"
    assert utils.cpu_id(path) == "AuthenticAMD family 25 model 17 stepping 1"
    assert utils.cpu_features(path) == ["avx2", "avx512f", "avx512_bf16"]  # the first processor's, no AMX


def test_a_xeon_with_amx(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(XEON)
    assert utils.cpu_model(path) == "Intel(R) Xeon(R) Platinum 8480C"
    assert utils.cpu_id(path) == "GenuineIntel family 6 model 143 stepping 8"
    assert utils.cpu_features(path) == ["avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]


def test_no_cpuinfo_gives_no_numbers_and_no_features(tmp_path):
    missing = tmp_path / "nothing"
    assert utils.cpu_id(missing) is None
    assert utils.cpu_features(missing) == []
    assert utils.cpu_model(missing)  # platform's name instead, never empty


def test_a_cpuinfo_without_family_numbers(tmp_path):
    """ARM's /proc/cpuinfo has no "cpu family": no made-up identifier."""
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n")
    assert utils.cpu_id(path) is None
    assert utils.cpu_features(path) == []
