"""`suggest --format skypilot` and `--skypilot-task`: a SkyPilot task whose resources.ordered is
the ranking, merged into the user's task.

SkyPilot itself is not installed for these tests: skypilot 0.14.1 pins click<8.2 (this project
runs on click 8.3+) and pulls in ~50 packages (fastapi, uvicorn, sqlalchemy, asyncpg, ...), so
the output is checked against SkyPilot's documented task schema instead: the field names and
types of ``get_task_schema``, ``get_resources_schema`` and ``_get_single_resources_schema`` in
``sky/utils/schemas.py`` (skypilot 0.14.1), and its rule that ``ordered`` and ``any_of`` exclude
each other. Nothing of SkyPilot is copied into the project.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

# sky/utils/schemas.py get_task_schema()["properties"] (0.14.1), the fields used here and more
TASK_FIELDS = {
    "name",
    "workdir",
    "event_callback",
    "num_nodes",
    "resources",
    "file_mounts",
    "service",
    "pool",
    "setup",
    "run",
    "envs",
    "secrets",
    "managed_secrets",
    "inputs",
    "outputs",
    "config",
    "volumes",
    "_user_specified_yaml",
}
# _get_single_resources_schema()["properties"] keys a candidate of `ordered` may carry
CANDIDATE_FIELDS = {
    "cloud",
    "region",
    "zone",
    "infra",
    "cpus",
    "memory",
    "accelerators",
    "instance_type",
    "use_spot",
    "job_recovery",
    "spot_recovery",
    "disk_size",
    "disk_tier",
    "network_tier",
    "ports",
    "labels",
    "accelerator_args",
    "image_id",
    "autostop",
    "priority",
    "volumes",
}
CLOUDS = {"aws", "azure", "gcp"}  # of SkyPilot's ALL_CLOUDS


def check_against_skypilot_schema(task: dict) -> None:
    assert isinstance(task, dict) and set(task) <= TASK_FIELDS, set(task) - TASK_FIELDS
    for key in ("name", "setup", "run"):
        assert key not in task or isinstance(task[key], str)
    assert "num_nodes" not in task or isinstance(task["num_nodes"], int)
    resources = task["resources"]
    assert isinstance(resources, dict)
    assert set(resources) <= CANDIDATE_FIELDS | {"any_of", "ordered"}
    assert not ("ordered" in resources and "any_of" in resources)
    assert isinstance(resources["ordered"], list) and resources["ordered"]
    for entry in resources["ordered"]:
        assert set(entry) == {"cloud", "region", "instance_type", "use_spot"}
        assert entry["cloud"] in CLOUDS
        assert isinstance(entry["region"], str) and isinstance(entry["instance_type"], str)
        assert isinstance(entry["use_spot"], bool)
        # a top-level field is copied into every candidate: none may contradict one
        assert not set(entry) & (set(resources) - {"ordered"})


def ranked(cli, *args: str) -> list[dict]:
    result = cli("suggest", "--gpu-hours", "400", *args, "--format", "json")
    assert result.code == 0, result.err
    return [
        {
            "cloud": o["provider"],
            "region": o["region"],
            "instance_type": o["instance_type"],
            "use_spot": o["market"] == "spot",
        }
        for o in json.loads(result.out)["options"]
    ]


def test_ordered_is_the_json_top_three_in_order(cli):
    result = cli("suggest", "--gpu-hours", "400", "--top", "3", "--format", "skypilot")
    assert result.code == 0, result.err
    task = yaml.safe_load(result.out)
    check_against_skypilot_schema(task)
    assert task["resources"]["ordered"] == ranked(cli, "--top", "3")
    assert len(task["resources"]["ordered"]) == 3
    assert result.out.startswith("# SkyPilot task from 'carbonplan suggest'")


def test_other_objectives_and_markets_follow_the_ranking(cli):
    args = ("--top", "5", "--objective", "cost", "--spot", "--provider", "azure,gcp")
    result = cli("suggest", "--gpu-hours", "400", *args, "--format", "skypilot")
    task = yaml.safe_load(result.out)
    assert task["resources"]["ordered"] == ranked(cli, *args)
    assert {e["cloud"] for e in task["resources"]["ordered"]} <= {"azure", "gcp"}
    assert all(e["use_spot"] for e in task["resources"]["ordered"])


USER_TASK = textwrap.dedent(
    """\
    name: bert-finetune
    num_nodes: 1
    resources:
      accelerators: V100:4
      disk_size: 512
      cloud: aws
      use_spot: false
      any_of:
        - cloud: gcp
    envs:
      MODEL: bert-base
    file_mounts:
      /data: s3://my-bucket/data
    setup: |
      pip install -r requirements.txt
      echo ready
    run: |
      python train.py --model $MODEL
      echo done
    """
)


def test_the_users_task_is_kept_and_conflicts_are_resolved_and_said(cli, tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text(USER_TASK)
    result = cli("suggest", "--gpu-hours", "400", "--top", "3", "--skypilot-task", str(path))
    assert result.code == 0, result.err
    task = yaml.safe_load(result.out)
    check_against_skypilot_schema(task)
    user = yaml.safe_load(USER_TASK)
    for key in ("name", "num_nodes", "envs", "file_mounts", "setup", "run"):
        assert task[key] == user[key], key
    assert task["resources"]["disk_size"] == 512
    assert task["resources"]["ordered"] == ranked(cli, "--top", "3")
    assert set(task["resources"]) == {"disk_size", "ordered"}
    # each removal is said, once, on stderr
    err = result.err
    assert "resources.accelerators 'V100:4' disagrees with" in err
    for field in ("cloud", "use_spot", "any_of"):
        assert err.count(f"resources.{field} ") == 1, (field, err)
    # scripts stay readable literal blocks
    assert "run: |" in result.out and "setup: |" in result.out


def test_matching_accelerators_are_removed_as_redundant(cli, tmp_path):
    options = ranked(cli, "--top", "1")
    doc = json.loads(cli("suggest", "--gpu-hours", "400", "--top", "1", "--format", "json").out)[
        "options"
    ][0]
    path = tmp_path / "task.yaml"
    path.write_text(f"resources:\n  accelerators: {{{doc['gpu']}: {doc['gpus_per_instance']}}}\n")
    result = cli("suggest", "--gpu-hours", "400", "--top", "1", "--skypilot-task", str(path))
    assert result.code == 0, result.err
    assert "matches every ranked instance type" in result.err
    assert yaml.safe_load(result.out)["resources"] == {"ordered": options}


def test_multi_node_plans_set_num_nodes(cli, tmp_path):
    args = ("--top", "3", "--gpu", "H100", "--max-instances", "4", "--deadline", "40")
    result = cli("suggest", "--gpu-hours", "2000", *args, "--format", "skypilot")
    assert result.code == 0, result.err
    task = yaml.safe_load(result.out)
    doc = json.loads(cli("suggest", "--gpu-hours", "2000", *args, "--format", "json").out)
    counts = {o["instances"] for o in doc["options"]}
    if len(counts) == 1 and counts != {1}:
        assert task["num_nodes"] == counts.pop()
    else:
        assert "num_nodes" not in task and "num_nodes is left unset" in result.err
    path = tmp_path / "task.yaml"
    path.write_text("num_nodes: 1\nrun: echo hi\n")
    kept = cli("suggest", "--gpu-hours", "2000", *args, "--skypilot-task", str(path))
    assert yaml.safe_load(kept.out)["num_nodes"] == 1
    assert "num_nodes 1 kept, but the ranking planned" in kept.err


@pytest.mark.parametrize(
    "content,message",
    [
        ("run: [unclosed\nsetup: x\n", "line 2: not valid YAML"),
        ("- just\n- a list\n", "is not a task"),
        ("name: a\n---\nname: b\n", "holds 2 YAML documents"),
        ("resources: [a, b]\n", "resources must be a mapping"),
    ],
)
def test_a_bad_task_file_is_one_clear_error(cli, tmp_path, content, message):
    path = tmp_path / "task.yaml"
    path.write_text(content)
    cli("suggest", "--gpu-hours", "400", "--skypilot-task", str(path)).assert_one_clear_error(
        message
    )


def test_contradictory_flags(cli, tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text("run: echo hi\n")
    base = ("suggest", "--gpu-hours", "400")
    cli(*base, "--skypilot-task", str(path), "--format", "json").assert_one_clear_error(
        "cannot be combined with --format json"
    )
    cli(*base, "--format", "skypilot", "--wide").assert_one_clear_error("--wide shapes the table")
    cli(*base, "--skypilot-task", str(tmp_path / "none.yaml")).assert_one_clear_error(
        "no such file"
    )
