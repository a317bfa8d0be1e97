"""The trainer's options are made from TrainConfig's fields, and a ``--config`` file (what the
Dagster launcher passes) is read under the options given."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields

import pytest

from nas_assets.train.cli import build_parser, main, option, train_config
from nas_assets.train.config import TrainConfig

REQUIRED = ["--arch", "0100:input,output", "--data", "d", "--out", "o"]


def test_option_defaults_are_the_dataclass_defaults_by_construction():
    assert train_config(build_parser().parse_args(REQUIRED)) == TrainConfig()
    actions = {a.dest: a for a in build_parser()._actions}
    for f in fields(TrainConfig):
        if option(f) is None:
            continue
        action = actions[f.name]
        assert action.option_strings == [option(f)]
        default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        assert f.metadata["help"] in action.help
        if not isinstance(default, bool) and default is not None:
            assert f"(default {shown})" in action.help


@pytest.mark.parametrize(("args", "changed"), [
    (["--epochs", "1,2", "--protocol", "snapshot"], {"budgets": (1, 2), "protocol": "snapshot"}),
    (["--no-augment", "--compile"], {"augment": False, "compile": True}),
    (["--lr", "0.5", "--recipe", "nb101", "--precision", "32-true"], {"lr": 0.5, "recipe": "nb101",
                                                                       "precision": "32-true"}),
    (["--batch-size", "8", "--stem-channels", "4", "--num-stacks", "2", "--cells-per-stack", "1",
      "--seed", "3"],
     {"batch_size": 8, "stem_channels": 4, "num_stacks": 2, "cells_per_stack": 1, "seed": 3}),
])
def test_every_option_sets_its_field(args, changed):
    config = train_config(build_parser().parse_args([*REQUIRED, *args]))
    assert config == TrainConfig.from_dict(changed)


def test_the_config_file_is_read_and_options_given_override_it(tmp_path):
    path = tmp_path / "setup.json"
    path.write_text(TrainConfig(budgets=(1, 2), stem_channels=8, seed=5, eval_batch_size=64).to_json())
    config = train_config(build_parser().parse_args([*REQUIRED, "--config", str(path), "--seed", "7"]))
    assert config == TrainConfig(budgets=(1, 2), stem_channels=8, seed=7, eval_batch_size=64)
    path.write_text(json.dumps({"protocol": "snapshot"}))  # a subset: the rest are the defaults
    assert train_config(build_parser().parse_args([*REQUIRED, "--config", str(path)])) == TrainConfig(
        protocol="snapshot")


@pytest.mark.parametrize(("content", "message"), [
    ({"stem_channels": 0}, "{file}: stem_channels = 0: expected an integer >= 1"),
    ({"epochs": [4]}, "unknown training setting 'epochs'; expected one of: budgets, protocol"),
    ({"augment": "yes"}, "{file}: augment = 'yes': expected true or false"),
    ("[1, 2]", "{file}: expected a JSON object of training settings"),
    ("{", "{file}: cannot read the training configuration ("),
])
def test_a_bad_config_file_fails_up_front_in_one_line(capsys, tmp_path, content, message):
    path = tmp_path / "setup.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    code = main([*REQUIRED[:2], "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "runs"),
                 "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and message.format(file=path) in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_an_option_given_is_named_as_the_option_even_with_a_file(capsys, tmp_path):
    path = tmp_path / "setup.json"
    path.write_text("{}")
    code = main([*REQUIRED[:2], "--data", str(tmp_path), "--out", str(tmp_path / "runs"),
                 "--config", str(path), "--stem-channels", "0"])
    assert code == 2 and "--stem-channels 0: expected an integer >= 1" in capsys.readouterr().err
