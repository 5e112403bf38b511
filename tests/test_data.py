"""The shipped data: well-formed, sourced, internally consistent, and rebuildable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recommender.catalog import load_catalog, schema
from recommender.catalog.load import default_data_dir
from recommender.catalog.names import gpu_lookup

DATA = default_data_dir()
ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("name", ["offers.csv", "regions.csv", "gpus.csv", "offers_excluded.csv"])
def test_files_are_utf8_without_bom_and_snake_case(name):
    raw = (DATA / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    assert b"\r\n" not in raw
    header = raw.split(b"\n", 1)[0].decode()
    for column in header.split(","):
        assert column == column.lower() and " " not in column, column


def test_every_offer_is_sourced_priced_and_known(catalog):
    offers = catalog.offers
    assert (offers["usd_per_hour"] > 0).all()
    spot = offers["spot_usd_per_hour"].dropna()
    assert (spot > 0).all()
    assert (spot <= offers.loc[spot.index, "usd_per_hour"]).all()
    # equal spot and on-demand is a placeholder upstream, never a real spot price
    assert (spot < offers.loc[spot.index, "usd_per_hour"]).all()
    assert offers["price_source"].str.len().gt(5).all()
    assert pd.to_datetime(offers["price_as_of"], format="%Y-%m-%d").notna().all()
    regions = set(zip(catalog.regions["provider"], catalog.regions["region"], strict=True))
    assert set(zip(offers["provider"], offers["region"], strict=True)) <= regions
    assert set(offers["gpu"]) <= set(catalog.gpus["gpu"])
    assert (offers["gpu_count"] > 0).all() and (offers["vcpus"] >= 1).all()


def test_all_three_clouds_have_many_regions(catalog):
    counts = catalog.offers.groupby("provider")["region"].nunique().to_dict()
    assert counts["aws"] >= 20 and counts["gcp"] >= 25 and counts["azure"] >= 40, counts


def test_every_region_is_explained_and_has_a_sourced_intensity(catalog):
    r = catalog.regions
    with_offers = set(zip(catalog.offers["provider"], catalog.offers["region"], strict=True))
    excluded = pd.read_csv(DATA / "offers_excluded.csv")
    explained = set(zip(excluded["provider"], excluded["region"], strict=True))
    # a region in regions.csv either has offers or its catalog rows were excluded with a reason
    for key in set(zip(r["provider"], r["region"], strict=True)) - with_offers:
        assert key in explained, key
    assert r["gco2_per_kwh"].between(0, 1200).all()
    assert r["pue"].between(1.0, 2.0).all()
    assert set(r["intensity_basis"]) == {"grid"}
    assert set(r["intensity_method"]) <= set(schema.INTENSITY_METHODS)
    assert r["intensity_source"].str.len().gt(5).all()
    assert r["intensity_year"].between(2015, 2026).all()
    assert (
        (r["gco2_per_kwh_low"] <= r["gco2_per_kwh"]) & (r["gco2_per_kwh"] <= r["gco2_per_kwh_high"])
    ).all()
    # never a silent world average
    assert not r["intensity_source"].str.contains("world average", case=False).any()
    assert r["country_code"].str.fullmatch("[A-Z]{2}").all()


def test_one_methodology_two_regions_on_one_zone_get_one_figure(catalog):
    """The default figure is the zone's, whichever cloud the region belongs to."""
    r = catalog.regions
    shared = r.groupby("em_zone").filter(lambda g: len(g) > 1)
    assert shared["em_zone"].nunique() >= 20  # many zones host several clouds' regions
    spread = shared.groupby("em_zone")["gco2_per_kwh"].agg(["min", "max"])
    assert (spread["max"] <= spread["min"] * 1.05).all(), spread[spread["max"] > spread["min"]]
    # Paris, Quebec and PJM: the cases that differed by cloud in the first release
    ix = r.set_index(["provider", "region"])["gco2_per_kwh"]
    assert ix[("gcp", "europe-west9")] == ix[("aws", "eu-west-3")] == ix[("azure", "francecentral")]
    assert ix[("gcp", "northamerica-northeast1")] == ix[("aws", "ca-central-1")]
    assert ix[("aws", "us-east-1")] == ix[("aws", "us-east-2")] == ix[("gcp", "us-east4")]


def test_the_default_methodology_is_recent_and_exceptions_are_marked(catalog):
    r = catalog.regions
    default = r[r["intensity_method"] == "zone"]
    assert len(default) >= 0.9 * len(r)
    assert (default["intensity_year"] >= 2023).all()
    assert default["intensity_source"].str.contains("lifecycle").all()
    # Anything older has no newer figure in the reference data, and is marked as an exception.
    old = r[r["intensity_year"] < 2023]
    assert (old["intensity_method"] != "zone").all()
    assert len(old) <= 2, old[["provider", "region", "intensity_year"]]


def test_every_region_has_each_other_basis_once(catalog):
    bases = catalog.region_intensity
    for basis in ("provider", "marginal"):
        rows = bases[bases["intensity_basis"] == basis]
        assert len(rows) == len(catalog.regions)
        assert not rows.duplicated(["provider", "region"]).any()
    provider = bases[bases["intensity_basis"] == "provider"]
    assert (
        provider.loc[provider["provider"] == "gcp", "intensity_method"] == "provider-region"
    ).all()
    assert (provider.loc[provider["provider"] != "gcp", "intensity_method"] == "same-as-grid").all()


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference not present")
def test_provider_basis_is_googles_own_file_for_gcp(catalog):
    google = pd.read_csv(REFERENCE / "gcp-region-carbon" / "2024.csv")
    figure = dict(zip(google["Google Cloud Region"], google.iloc[:, -1], strict=True))
    regions = catalog.with_basis("provider").regions
    gcp = regions[regions["provider"] == "gcp"]
    for region, value, year in zip(
        gcp["region"], gcp["gco2_per_kwh"], gcp["intensity_year"], strict=True
    ):
        assert year == 2024
        assert value == pytest.approx(figure[region], abs=1e-9), region


def test_gpus_have_power_memory_and_throughput_with_evidence(catalog):
    g = catalog.gpus
    assert g["tdp_w"].between(30, 1500).all()
    assert g["memory_gb"].between(8, 300).all()
    assert g["rel_throughput"].between(0.01, 10).all()
    assert set(g["throughput_basis"]) <= {"measured", "estimated"}
    assert g.loc[g["gpu"] == "A100-80GB", "rel_throughput"].item() == 1.0
    estimated = g[g["throughput_basis"] == "estimated"]
    assert {"T4", "L4"} <= set(estimated["gpu"])
    assert estimated["throughput_source"].str.contains("estimated", case=False).all()


def test_gpu_aliases_are_unambiguous(catalog):
    seen: dict[str, str] = {}
    for gpu, aliases in zip(catalog.gpus["gpu"], catalog.gpus["aliases"].fillna(""), strict=True):
        for name in [gpu, *[a for a in aliases.split(";") if a]]:
            key = name.strip().lower()
            assert seen.setdefault(key, gpu) == gpu, f"{name} names {seen[key]} and {gpu}"
    assert gpu_lookup(catalog.gpus)["a100"] == "A100"


@pytest.mark.parametrize("basis", ["grid", "provider", "marginal"])
def test_montreal_is_many_times_cleaner_than_mumbai_on_every_cloud(catalog, basis):
    r = catalog.with_basis(basis).regions.set_index(["provider", "region"])["gco2_per_kwh"]
    pairs = {
        "aws": ("ca-central-1", "ap-south-1"),
        "gcp": ("northamerica-northeast1", "asia-south1"),
        "azure": ("canadaeast", "centralindia"),
    }
    for provider, (montreal, mumbai) in pairs.items():
        ratio = r[(provider, mumbai)] / r[(provider, montreal)]
        # The marginal figure (the plant that answers extra demand) is fossil almost
        # everywhere, so the contrast shrinks there; on average figures it is over 10x.
        assert ratio >= (1.5 if basis == "marginal" else 10), (provider, basis, ratio)


def test_exclusions_are_explained():
    excluded = pd.read_csv(DATA / "offers_excluded.csv")
    assert excluded["reason"].notna().all() and excluded["reason"].str.len().gt(5).all()


# Azure NCv6 GA sizes with the GPU share Microsoft publishes (Tech Community, 2026-03-18).
NCV6_PUBLISHED = {
    "Standard_NC24lds_xl_RTXPRO6000BSE_v6": 0.25,
    "Standard_NC36ds_xl_RTXPRO6000BSE_v6": 0.25,
    "Standard_NC72lds_xl_RTXPRO6000BSE_v6": 0.5,
    "Standard_NC132ds_xl_RTXPRO6000BSE_v6": 1,
    "Standard_NC144lds_xl_RTXPRO6000BSE_v6": 1,
    "Standard_NC288ds_xl_RTXPRO6000BSE_v6": 2,
    "Standard_NC324lds_xl_RTXPRO6000BSE_v6": 2,
}


def test_azure_sizes_with_published_gpu_counts_are_offers(catalog):
    offers = catalog.offers[catalog.offers["provider"] == "azure"]
    excluded = pd.read_csv(DATA / "offers_excluded.csv")
    for size, count in NCV6_PUBLISHED.items():
        rows = offers[offers["instance_type"] == size]
        assert len(rows) >= 7, size  # priced in 7-15 regions
        assert (rows["gpu"] == "RTX-PRO-6000").all() and (rows["gpu_count"] == count).all()
        assert rows["memory_gib"].notna().all()
        assert rows["note"].str.contains("size facts .* from Microsoft", regex=True).all()
        assert size not in set(excluded["instance_type"]), size
    # a count that stays unknown says why for that size, not a generic line
    unknown = excluded[excluded["reason"].str.startswith("GPU count unknown")]
    assert not unknown["reason"].str.contains("not given by the sources read").any()
    assert set(unknown["instance_type"].str.extract(r"_(RTXPRO6000BSE|A10)_v\d$")[0]) == {
        "RTXPRO6000BSE",
        "A10",
    }


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference not present")
def test_data_rebuilds_identically_from_the_reference(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_data.py"),
            "--reference",
            str(REFERENCE),
            "--out",
            str(out),
            "--built",
            load_catalog().meta["built"],
        ],
        check=True,
        capture_output=True,
    )
    for name in [
        "offers.csv",
        "offers_excluded.csv",
        "regions.csv",
        "region_intensity.csv",
        "gpus.csv",
        "gcp_zones.csv",
        "meta.json",
    ]:
        assert (out / name).read_bytes() == (DATA / name).read_bytes(), name
