"""The exponential moving average of the weights (ema_decay): the average by hand, what it restores,
and that training evaluates and keeps the averaged weights while it resumes from the trained ones."""

import dataclasses
import json

import pytest
import torch

from spertmt.training.averaging import WeightAverage


def test_the_average_by_hand_and_the_weights_restored_after_it():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    model.bias.requires_grad_(False)  # frozen parameters are not averaged
    average = WeightAverage(model, decay=0.5)
    want = model.weight.detach().clone()
    for t in range(4):
        with torch.no_grad():
            model.weight.add_(1.0)
        decay = min(0.5, (1 + t) / (10 + t))  # 0.1, 0.18..., 0.25, 0.30...: the warm-up, then 0.5 later
        want = decay * want + (1 - decay) * model.weight.detach()
        average.update()
    torch.testing.assert_close(average.average[0], want)
    assert len(average.average) == 1

    trained = model.weight.detach().clone()
    with average.applied():
        torch.testing.assert_close(model.weight.detach(), want)
    assert torch.equal(model.weight.detach(), trained)

    restored = WeightAverage(model, decay=0.5)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 4 and torch.equal(restored.average[0], average.average[0])


@pytest.mark.parametrize("decay", [0.0, 1.0])
def test_a_decay_outside_the_open_interval_is_refused(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(torch.nn.Linear(2, 2), decay)


def test_training_evaluates_and_saves_the_average_and_resumes_from_the_trained_weights(tiny_config, tmp_path):
    from safetensors.torch import load_file

    from spertmt import load
    from spertmt.data.documents import read_documents, read_types
    from spertmt.evaluate import evaluate
    from spertmt.training.trainer import train

    config = dataclasses.replace(tiny_config, epochs=2, ema_decay=0.9, lr=1e-3, threshold=0.0)
    train(config, tmp_path / "run", progress=False, keep_resume=True)
    state = torch.load(tmp_path / "run" / "resume" / "state.pt", weights_only=False)
    saved = load_file(tmp_path / "run" / "last" / "model.safetensors")
    averaged = state["average"]["average"]
    assert averaged and all(torch.equal(saved[name], weights) for name, weights in averaged.items())
    assert any(not torch.equal(state["model"][name], weights) for name, weights in averaged.items())

    # The last dev evaluation in the log is that of the averaged weights in last/.
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    logged = [entry["metrics"] for entry in log if entry["event"] == "dev"][-1]
    types = read_types(config.data_path("types_path"))
    dev = read_documents(config.data_path("dev_path"), types)
    predicted = load(tmp_path / "run" / "last").predict(dev)
    assert evaluate(dev, predicted, types) == logged
