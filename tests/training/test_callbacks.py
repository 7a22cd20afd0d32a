"""The Trainer's callbacks: a user's callback is called at each named point after the built-in ones,
early stopping ends a run with its outputs complete, and the trainer's state is what callbacks read."""

import dataclasses

import pytest

from spertmt.layout import Event, RunFolder
from spertmt.training import Callback, EarlyStopping, Trainer, default_callbacks, train
from spertmt.training.callbacks import Checkpoints, DevEvaluation, TrainLog, WeightAveraging
from spertmt.training.final import FinalEvaluation
from spertmt.training.resume import ResumeState


class Recorder(Callback):
    """Notes each call and what the run folder held at that moment."""

    def __init__(self):
        self.calls = []

    def on_train_start(self, trainer):
        self.calls.append(("train_start", trainer.state.epoch, trainer.state.step))

    def on_step_end(self, trainer, step):
        assert step.stepped and step.loss == pytest.approx(step.output.loss.item())
        self.calls.append(("step_end", trainer.state.epoch, trainer.state.step))

    def on_epoch_end(self, trainer):
        # The built-in callbacks have run: this epoch is saved, evaluated and logged.
        events = [e["event"] for e in trainer.run.read_log()]
        assert events[-2:] == [Event.DEV, Event.EPOCH] and trainer.run.can_resume()
        assert trainer.state.dev_metrics and (trainer.run.last / "version.json").exists()
        self.calls.append(("epoch_end", trainer.state.epoch, trainer.state.step))

    def on_train_end(self, trainer):
        assert trainer.run.metrics.exists() and not trainer.run.resume.exists()
        self.calls.append(("train_end", trainer.state.epoch, trainer.state.step))


def test_a_users_callback_is_called_at_each_point_after_the_built_in_ones(tiny_config, tmp_path):
    recorder = Recorder()
    config = dataclasses.replace(tiny_config, epochs=2)
    metrics = train(config, tmp_path / "run", progress=False, callbacks=[recorder])
    steps = len([c for c in recorder.calls if c[0] == "step_end"])
    assert steps > 0 and steps % 2 == 0
    per_epoch = steps // 2
    assert recorder.calls[0] == ("train_start", 0, 0)
    assert recorder.calls[1:per_epoch + 2] == [*(("step_end", 1, s) for s in range(1, per_epoch + 1)),
                                               ("epoch_end", 1, per_epoch)]
    assert recorder.calls[-2:] == [("epoch_end", 2, steps), ("train_end", 2, steps)]
    assert metrics == RunFolder(tmp_path / "run").read_log()[-1]["metrics"]  # the test metrics of best/


def test_early_stopping_ends_the_run_with_its_outputs_complete(tiny_config, tmp_path):
    class FlatDevScore(Callback):  # a dev score that never improves after the first epoch
        def on_epoch_end(self, trainer):
            trainer.state.dev_score = 1.0

    config = dataclasses.replace(tiny_config, epochs=6)
    stopper = EarlyStopping(patience=2)
    train(config, tmp_path / "run", progress=False, callbacks=[FlatDevScore(), stopper])
    run = RunFolder(tmp_path / "run")
    epochs = [e["epoch"] for e in run.read_log() if e["event"] == Event.EPOCH]
    assert epochs == [1, 2, 3] and stopper.waited == 2
    assert run.trained() == ["best", "last"] and run.metrics.exists() and not run.resume.exists()


def test_early_stopping_counts_epochs_without_a_better_dev_score():
    stopper = EarlyStopping(patience=2, min_delta=0.5)

    class Fake:
        config = type("C", (), {"select_metric": "re_strict.micro.f1"})()

        def __init__(self):
            self.state = type("S", (), {"dev_score": None, "should_stop": False, "epoch": 0})()

    trainer = Fake()
    for epoch, score in enumerate([10.0, 10.4, 11.0, 11.2, 11.3], start=1):
        trainer.state.epoch, trainer.state.dev_score = epoch, score
        stopper.on_epoch_end(trainer)
        assert trainer.state.should_stop == (epoch == 5), epoch  # 10.4 and 11.2/11.3 are within min_delta
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_the_built_in_callbacks_and_their_order(tiny_config):
    kinds = [type(c) for c in default_callbacks(tiny_config)]
    assert kinds == [DevEvaluation, Checkpoints, FinalEvaluation, ResumeState, TrainLog]
    averaged = dataclasses.replace(tiny_config, ema_decay=0.9)
    assert [type(c) for c in default_callbacks(averaged)][0] is WeightAveraging


def test_the_trainer_reads_and_checks_the_data_before_writing(tiny_config, tmp_path):
    broken = tmp_path / "train.json"
    broken.write_text("[{")
    config = dataclasses.replace(tiny_config, train_path=str(broken))
    with pytest.raises(ValueError, match="train.json"):
        Trainer(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()



def test_train_takes_a_config_a_dict_of_settings_or_a_config_files_path(tiny_config, tmp_path):
    """A dict or a path was an AttributeError ('dict' object has no attribute 'resolved')."""
    import json

    settings = dataclasses.asdict(tiny_config)
    (tmp_path / "config.json").write_text(json.dumps(settings))
    metrics = [train(config, tmp_path / name, progress=False)
               for config, name in ((tiny_config, "a"), (settings, "b"), (str(tmp_path / "config.json"), "c"))]
    assert metrics[0] == metrics[1] == metrics[2]
    with pytest.raises(ValueError, match=r"config: unknown key 'epoch' \(did you mean 'epochs'\?\)"):
        train({**settings, "epoch": 2}, tmp_path / "d", progress=False)
    with pytest.raises(TypeError, match="config must be a Config, a dict of settings or a config file's path, not int"):
        train(3, tmp_path / "e", progress=False)


def test_a_resumed_run_goes_on_with_the_settings_it_started_with(tiny_config, tmp_path, capsys):
    """Resumed with other settings, a run mixed two runs in one (or failed on the saved state); where
    the data lies and what runs it may change (a run may go on on another machine)."""
    from spertmt.cli import main

    train(tiny_config, tmp_path / "run", progress=False, keep_resume=True)
    with pytest.raises(ValueError, match=r"a resumed run goes on with the settings it started with .*; these "
                                         r"differ: lr = 0.5 \(the run's: .*\); a resumed run may change data_root"):
        train(dataclasses.replace(tiny_config, lr=0.5), tmp_path / "run", resume=True, progress=False)
    train(dataclasses.replace(tiny_config, eval_batch_size=1), tmp_path / "run", resume=True, progress=False)
    (tmp_path / "other.toml").write_text("lr = 0.5\n")
    assert main(["train", "--quiet", "--output", str(tmp_path / "run"), "--resume", "--config",
                 str(tmp_path / "other.toml")]) == 2
    assert "--resume goes on with the run's settings" in capsys.readouterr().err


def test_a_dev_metric_of_a_type_the_data_lacks_stops_before_training(tiny_config, tmp_path):
    """A mistyped select_metric failed with a KeyError after the first epoch's training and dev pass."""
    train(dataclasses.replace(tiny_config, select_metric="re_strict.per_type.Work_For.f1"), tmp_path / "ok",
          progress=False)
    with pytest.raises(ValueError, match=r"select_metric = 're_strict.per_type.Works_For.f1': the run's types have no "
                                         r"relation type 'Works_For'; its relation types: .*Work_For"):
        Trainer(dataclasses.replace(tiny_config, select_metric="re_strict.per_type.Works_For.f1"), tmp_path / "run",
                progress=False)
    assert not (tmp_path / "run").exists()


def test_the_trainer_warns_when_dev_or_test_is_mostly_what_it_trains_on(tiny_config, tmp_path):
    """The training file given as dev_path (or test_path) chooses the epoch on what the model trains
    on: said at once. A held-out dev split, or a dev set that only shares a sentence, is not warned of."""
    import warnings

    with pytest.warns(UserWarning) as caught:
        Trainer(tiny_config, tmp_path / "run", progress=False)  # the fixtures: one file for all three
    messages = [str(w.message) for w in caught if "training document" in str(w.message)]
    assert [m.split(":")[0] for m in messages] == ["5 of the 5 dev documents have the words of a training document",
                                                  "5 of the 5 test documents have the words of a training document"]
    assert "is dev_path the training file?" in messages[0]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*training document")
        Trainer(dataclasses.replace(tiny_config, dev_path="", test_path="", dev_split=0.4), tmp_path / "held-out",
                progress=False)


def test_a_config_names_callbacks_by_their_registered_names(tiny_config, tmp_path):
    """`[callbacks.early_stopping]` in a TOML file: the registry builds it, after the built-in ones
    and in the table's order; an unknown name or argument stops the run before it writes."""
    from spertmt.config import Config
    from spertmt.training.callbacks import CALLBACKS, callbacks_from_config, register_callback

    @register_callback("flat_dev_score_test")
    class FlatDevScore(Callback):  # a dev score that never improves after the first epoch
        def on_epoch_end(self, trainer):
            trainer.state.dev_score = 1.0

    try:
        toml = tmp_path / "run.toml"
        toml.write_text("epochs = 6\n\n[callbacks.flat_dev_score_test]\n\n[callbacks.early_stopping]\npatience = 2\n")
        config = dataclasses.replace(tiny_config, epochs=6, callbacks=Config.load(toml).callbacks)
        made = callbacks_from_config(config.callbacks)
        assert [type(c) for c in made] == [FlatDevScore, EarlyStopping] and made[1].patience == 2
        train(config, tmp_path / "run", progress=False)
        epochs = [e["epoch"] for e in RunFolder(tmp_path / "run").read_log() if e["event"] == Event.EPOCH]
        assert epochs == [1, 2, 3]
        with pytest.raises(ValueError, match="no callback named 'early_stop'; known: early_stopping"):
            callbacks_from_config({"early_stop": {}})
        with pytest.raises(ValueError, match=r"callbacks.early_stopping: .*patients.*takes \(patience"):
            train(dataclasses.replace(config, callbacks={"early_stopping": {"patients": 2}}), tmp_path / "bad")
        assert not (tmp_path / "bad" / "config.json").exists()
        with pytest.raises(ValueError, match="registered already"):
            register_callback("early_stopping")(FlatDevScore)
    finally:
        CALLBACKS.pop("flat_dev_score_test", None)
