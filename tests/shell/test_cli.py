"""The command line: help, usage errors without tracebacks, check-config and convert."""
import subprocess
import sys

import pytest

from router.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "router", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("serve", "demo", "check-config", "convert", "hash-password"):
        assert command in out.stdout


@pytest.mark.parametrize("args", [("bogus",), ("convert",), ("serve", "--fix-port", "notaport"), ()])
def test_usage_errors_exit_2_without_a_traceback(args):
    out = run(*args)
    assert out.returncode == 2
    assert "usage:" in out.stderr and "Traceback" not in out.stderr


def test_convert_worked_example(capsys):
    assert main(["convert", "560", "SGE.AU9999", "--to", "usd-oz-fine", "--fx", "USDCNY=7.25"]) == 0
    assert "2402.72" in capsys.readouterr().out


def test_convert_to_another_instrument(capsys):
    assert main(["convert", "560.00", "SGE.AU9999", "--to", "HKGX.AU99TAEL",
                 "--fx", "USDCNY=7.25", "--fx", "USDHKD=7.80"]) == 0
    assert "22327.06 HKD/hk_tael on HKGX.AU99TAEL" in capsys.readouterr().out


def test_convert_to_cny_per_fine_gram(capsys):
    assert main(["convert", "2400", "HKGX.LLG", "--to", "cny-g-fine", "--fx", "USDCNY=7.25"]) == 0
    assert "559.42 CNY per fine gram" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["convert", "abc", "SGE.AU9999"], "is not a number"),
    (["convert", "-5", "SGE.AU9999"], "must be a positive number"),
    (["convert", "560", "SGE.NOPE"], "unknown SYMBOL"),
    (["convert", "560", "SGE.AU9999", "--to", "moon"], "neither an instrument"),
    (["convert", "560", "SGE.AU9999", "--fx", "USDCNY"], "is not PAIR=RATE"),
    (["convert", "560", "SGE.AU9999", "--fx", "USDJPY=150"], "fx.USDJPY: unknown FX pair"),
])
def test_convert_errors_are_one_line_messages(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_check_config_prints_the_catalogue_with_tick_values(capsys):
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "configuration OK" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("SGE.", "SGEI.", "HKGX."))}
    assert set(lines) == {"SGE.AU9999", "SGE.AUTD", "SGE.MAUTD", "SGEI.IAU9999", "HKGX.AU99TAEL", "HKGX.RKG",
                          "HKGX.LLG"}
    assert " 0.0100 " in lines["HKGX.LLG"]          # USD 0.01/oz tick is 0.01 USD per fine oz at any FX


def test_check_config_names_the_bad_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[instruments."HKGX.RKG"]\ntick = 0.001\n')
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: instruments.HKGX.RKG.tick" in err and "not a multiple" in err


def test_hash_password_reads_stdin_and_prints_a_verifiable_hash():
    from router.fix.config import parse_fix_config
    from router.fix.credentials import verify_password

    out = subprocess.run([sys.executable, "-m", "router", "hash-password", "--stdin"], input="s3cret\n",
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    stored = out.stdout.strip()
    assert stored.startswith("scrypt$16384$8$1$") and "s3cret" not in stored
    assert verify_password(stored, b"s3cret") and not verify_password(stored, b"s3cret ")
    # the output is what the config accepts
    cfg = parse_fix_config({"sessions": [{"target_comp_id": "S", "username": "u", "password": stored}]})
    assert cfg.session("S").password == stored
    again = run("hash-password", "--stdin")  # empty input
    assert again.returncode == 2 and "empty" in again.stderr and "Traceback" not in again.stderr


# -- serve turns the cyclic collector off while it imports and builds, and on again ----------------
def test_a_serve_that_refuses_its_arguments_leaves_the_collector_on(capsys):
    import gc
    assert gc.isenabled()
    assert main(["serve", "--fix-port", "0", "--http-port", "0", "--memory-store", "--log-level", "bogus"]) == 2
    assert gc.isenabled()


async def test_the_service_start_turns_the_collector_on_after_the_core_is_warm(tmp_path):
    import gc
    from router.cli import _parser
    from router.config import load_config
    from router.service import service_from_args
    args = _parser().parse_args(["serve", "--fix-port", "0", "--http-port", "0", "--memory-store",
                                 "--sessions-always-open"])
    service = service_from_args(args, load_config(None))
    gc.collect()                        # the start freezes what is alive without collecting, as in `serve`
    gc.disable()                        # as `cli.cmd_serve` leaves it
    try:
        await service.start()
        assert gc.isenabled() and service.ready
    finally:
        await service.close()
        gc.enable()
