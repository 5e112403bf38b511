"""The config file: built-in defaults < config file < CARBONPLAN_* < flags, on a real file."""

from __future__ import annotations

import json

import pytest

from recommender.config import PLAN_KEYS

SECRET = "em-key-SECRET-1234"


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A config file of the test's own (CARBONPLAN_CONFIG), and no CARBONPLAN_* setting."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CARBONPLAN_CONFIG", str(path))
    for name, key in PLAN_KEYS.items():
        monkeypatch.delenv(key.env(name), raising=False)
    for env in ("ELECTRICITYMAPS_API_KEY", "CARBONPLAN_INTENSITY_SOURCES"):
        monkeypatch.delenv(env, raising=False)

    def write(text: str):
        path.write_text(text, encoding="utf-8")
        return path

    write.path = path  # type: ignore[attr-defined]
    return write


def plan(cli, *flags: str) -> dict:
    result = cli("suggest", "--gpu-hours", "400", "--top", "5", "--format", "json", *flags)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_utilisation_default_then_file_then_environment_then_flag(cli, config, monkeypatch):
    doc = plan(cli)
    assert doc["assumptions"]["gpu_utilisation"] == 0.8
    assert "gpu_utilisation" in doc["assumptions"]["defaults_used"]
    assert doc["assumptions"]["configured"] == {}

    path = config("[plan]\nutilisation = 0.7\nobjective = 'cost'\n")
    doc = plan(cli)
    a = doc["assumptions"]
    assert a["gpu_utilisation"] == 0.7 and a["objective"] == "cost"
    assert a["configured"] == {
        "gpu_utilisation": f"config file {path}",
        "objective": f"config file {path}",
    }
    # a value from the file is not a built-in default, and its row says where it came from
    assert "gpu_utilisation" not in a["defaults_used"] and "objective" not in a["defaults_used"]
    row = next(r for r in a["details"] if r["name"] == "gpu_utilisation")
    assert row["default"] is False and row["origin"] == f"config file {path}"
    costs = [o["cost_usd"] for o in doc["options"]]
    assert costs == sorted(costs)  # ranked by the configured objective

    monkeypatch.setenv("CARBONPLAN_UTILISATION", "0.6")
    a = plan(cli)["assumptions"]
    assert a["gpu_utilisation"] == 0.6
    assert a["configured"]["gpu_utilisation"] == "environment CARBONPLAN_UTILISATION"

    a = plan(cli, "--utilisation", "0.5", "--objective", "carbon")["assumptions"]
    assert a["gpu_utilisation"] == 0.5 and a["objective"] == "carbon"
    assert a["configured"] == {}  # flags win, and are neither configured nor defaults
    assert "gpu_utilisation" not in a["defaults_used"]


def test_providers_regions_and_markets_from_the_file_and_flags_override_them(cli, config):
    best = plan(cli)["options"][0]
    best_region = f"{best['provider']}:{best['region']}"
    path = config(
        f'[plan]\nproviders = ["aws", "gcp"]\nexclude_regions = ["{best_region}"]\n'
        'markets = "spot"\n'
    )
    doc = plan(cli)
    options = doc["options"]
    assert options and {o["provider"] for o in options} <= {"aws", "gcp"}
    assert best_region not in {f"{o['provider']}:{o['region']}" for o in options}
    assert {o["market"] for o in options} == {"spot"}
    assert doc["constraints"]["exclude_regions"] == [best_region]
    assert doc["assumptions"]["configured"]["markets"] == f"config file {path}"

    doc = plan(cli, "--on-demand", "--provider", "azure")
    assert {o["market"] for o in doc["options"]} == {"on-demand"}
    assert {o["provider"] for o in doc["options"]} == {"azure"}
    assert set(doc["assumptions"]["configured"]) == {"exclude_regions"}


def test_config_show_says_where_each_value_came_from(cli, config, monkeypatch):
    path = config(
        f'[plan]\nobjective = "balanced"\ncarbon_price = 120\n\n'
        f'[intensity]\nelectricitymaps_api_key = "{SECRET}"\nsources = ["ukgrid"]\n'
    )
    monkeypatch.setenv("CARBONPLAN_CARBON_PRICE", "150")
    result = cli("config", "show", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["path"] == str(path) and doc["exists"] is True
    assert doc["plan"]["objective"] == {"value": "balanced", "origin": f"config file {path}"}
    assert doc["plan"]["carbon_price"] == {
        "value": 150.0,
        "origin": "environment CARBONPLAN_CARBON_PRICE",
    }
    assert doc["plan"]["utilisation"] == {"value": 0.8, "origin": "default"}
    assert doc["intensity"]["sources"]["value"] == ["ukgrid"]
    assert doc["intensity"]["electricitymaps_api_key"]["value"] == "(set)"
    for fmt in ("table", "json", "csv"):
        result = cli("config", "show", "--format", fmt)
        assert result.code == 0 and "balanced" in result.out
        assert SECRET not in result.out + result.err
    table = cli("config").out  # show is the default action
    assert str(path) in table and "CARBONPLAN_CARBON_PRICE" in table
    assert cli("config", "path").out.strip() == str(path)


def test_config_path_without_a_file(cli, config):
    result = cli("config", "path", "--format", "json")
    assert json.loads(result.out) == {"path": str(config.path), "exists": False}
    result = cli("config", "show")
    assert result.code == 0 and "not found" in result.out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[plan]\nobjective = 'cost'\nobjectiv = 'cost'\n",
            "line 3: unknown [plan] key 'objectiv'",
        ),
        ("[plann]\nobjective = 'cost'\n", "line 1: unknown table or key 'plann'"),
        ("objective = 'cost'\n", "line 1: unknown table or key 'objective'"),
        ("[plan]\n\nutilisation = 1.5\n", "line 3: [plan] utilisation = 1.5: must be in (0, 1]"),
        ("[plan]\ncarbon_price = 'lots'\n", "line 2: [plan] carbon_price = 'lots': expected"),
        ("[plan]\nobjective = 'carbn'\n", "[plan] objective = 'carbn': did you mean 'carbon'?"),
        ("[plan]\nmarkets = ['spot', 'reserved']\n", "line 2: [plan] markets"),
        ("[plan]\nmax_instances = 2.5\n", "[plan] max_instances = 2.5: expected a whole"),
        ("[plan]\nproviders = ['aws', 'oracle']\n", "line 2: [plan] providers: unknown provider"),
        (
            "[plan]\nexclude_regions = ['aws:mars-1']\n",
            "[plan] exclude_regions: unknown aws region",
        ),
        ("[plan]\nref_gpu = 'A1000'\n", "line 2: [plan] ref_gpu: unknown GPU"),
        ("[plan]\nobjective = \n", "is not valid TOML: Invalid value (at line 2"),
        ("[intensity]\nttl_s = 'soon'\n", "line 2, [intensity]: ttl_s = 'soon' is not valid"),
        ("[intensity]\nelectricitymaps_api_ky = 'x'\n", "unknown [intensity] key"),
    ],
)
def test_a_bad_file_is_one_clear_error_naming_file_line_and_key(cli, config, text, message):
    path = config(text)
    for command in (("suggest", "--gpu-hours", "400"), ("config", "show")):
        if message.startswith("line 2, [intensity]") and command[0] == "suggest":
            continue  # intensity values are read when a live source is used
        result = cli(*command)
        result.assert_one_clear_error(message)
        assert f"config file {path}" in result.err


def test_a_bad_environment_value_names_the_variable(cli, config, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_OBJECTIVE", "greenest")
    cli("suggest", "--gpu-hours", "400").assert_one_clear_error("CARBONPLAN_OBJECTIVE = 'greenest'")


def test_secrets_never_appear_in_errors(cli, config):
    config(f'[intensity]\nelectricitymaps_api_key = ["{SECRET}"]\n')  # a list: not a string
    result = cli("config", "show")
    assert SECRET not in result.out + result.err


def test_the_intensity_table_still_works_beside_plan(cli, config, monkeypatch):
    from recommender.intensity.settings import load_settings

    config(
        f'[plan]\nobjective = "cost"\n\n[intensity]\nsources = "ukgrid, electricitymaps"\n'
        f'electricitymaps_api_key = "{SECRET}"\nttl_s = 60\n'
    )
    settings = load_settings()
    assert settings.sources == ("ukgrid", "electricitymaps") and settings.ttl_s == 60
    assert settings.electricitymaps_api_key == SECRET
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "from-env")
    assert load_settings().electricitymaps_api_key == "from-env"  # the environment wins


def test_configured_basis_applies_to_static_intensity_only(cli, config, tmp_path):
    config("[plan]\nintensity_basis = 'provider'\n")
    a = plan(cli, "--provider", "gcp")["assumptions"]
    assert "provider" in json.dumps(a["intensity"])
    trace = tmp_path / "trace.csv"
    trace.write_text("datetime,gco2_per_kwh\n2030-01-01T00:00Z,100\n2030-01-02T00:00Z,100\n")
    doc = plan(cli, "--provider", "gcp", "--intensity-file", str(trace))  # no basis error
    assert "intensity_basis" not in doc["assumptions"]["configured"]


def test_choices_repeat_the_flags():
    from recommender.catalog import schema
    from recommender.cliopts import Objective

    assert PLAN_KEYS["objective"].choices == tuple(o.value for o in Objective)
    assert PLAN_KEYS["intensity_basis"].choices == schema.INTENSITY_BASES


def test_the_intensity_keys_are_those_the_intensity_reader_knows():
    from recommender.config import INTENSITY_KEYS
    from recommender.intensity.settings import ENV_VARS

    assert set(INTENSITY_KEYS) == set(ENV_VARS)
