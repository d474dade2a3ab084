"""Channel names end to end: ``channel_names=``, DataFrame columns and xarray coordinates
reach ``coords``, ``top()``, ``to_pandas()`` / ``to_xarray()``, the figures and the report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig

NAMES = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]


class Net(torch.nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(channels, 64, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh((x * self.w).sum(dim=(1, 2)) / 8)


def _texts(fig) -> list[str]:
    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
    return out


def test_names_reach_every_output():
    pytest.importorskip("matplotlib")
    x = np.random.default_rng(0).normal(size=(1, 14, 64))
    attr = cdig.explain(Net(14), x, "fourier", fs=32.0, n_steps=8, channel_names=NAMES)
    assert list(attr.coords["channel"]) == NAMES
    assert all(row["channel"] in NAMES for row in attr.top(5))
    best = np.unravel_index(np.abs(attr.values[0]).argmax(), attr.values.shape[1:])
    assert attr.top(1)[0]["channel"] == NAMES[best[0]]
    fig = attr.plot()  # 14 channels: one channel x frequency heatmap, rows named
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == NAMES and len(fig.axes) == 2  # the heatmap and its colour bar
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].get_yticklabels()]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    in_time = cdig.explain(Net(14), x, "time", fs=32.0, n_steps=8, channel_names=NAMES)
    fig = in_time.plot(inputs=x)  # and one channel x time heatmap
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == NAMES
    assert fig.axes[0].get_xlabel() == "time (s)"
    html = cdig.report.render_report(attr, x)
    assert any(f"{name}, " in html for name in NAMES)
    several = cdig.explain(Net(3), x[:, :3], ["time", "stft"], fs=32.0, n_steps=8,
                           channel_names=NAMES[:3])  # fmt: skip
    for res in several.values():
        assert list(res.coords["channel"]) == NAMES[:3]
        texts = " ".join(_texts(res.plot(inputs=x[:, :3]) if res.dims[-1] == "time" and
                                len(res.dims) == 2 else res.plot()))  # fmt: skip
        assert all(name in texts for name in NAMES[:3]), texts
        assert "channel 0" not in texts


def test_names_in_pandas_and_xarray():
    pd = pytest.importorskip("pandas")
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(1)
    model = Net(3)  # a DataFrame (rows = time) is one series of shape (1, channels, time)
    frame = pd.DataFrame(rng.normal(size=(64, 3)), columns=["AF3", "F7", "O1"])
    attr = cdig.explain(model, frame, "fourier", fs=32.0, n_steps=8)
    assert list(attr.coords["channel"]) == ["AF3", "F7", "O1"]
    table = attr.to_pandas()
    assert set(table["channel"]) == {"AF3", "F7", "O1"}
    assert list(attr.to_xarray().coords["channel"].values) == ["AF3", "F7", "O1"]
    arr = xr.DataArray(
        rng.normal(size=(2, 3, 64)),
        dims=("sample", "channel", "time"),
        coords={"channel": ["Fz", "Cz", "Pz"]},
    )
    attr = cdig.explain(Net(3), arr, "time", n_steps=8)
    assert list(attr.coords["channel"]) == ["Fz", "Cz", "Pz"]
    plain = cdig.explain(model, pd.DataFrame(rng.normal(size=(64, 3))), "time", n_steps=8)
    assert list(plain.coords["channel"]) == [0, 1, 2]  # default columns name nothing


@pytest.mark.parametrize(
    ("names", "error", "match"),
    [
        (["a", "b"], ValueError, "channel_names has 2 names but the inputs have 3 channels"),
        (["a", "a", "b"], ValueError, "repeats a name"),
        ("abc", TypeError, "channel_names='abc'"),
    ],
)
def test_bad_channel_names(names, error, match):
    x = np.random.default_rng(0).normal(size=(1, 3, 64))
    with pytest.raises(error, match=match):
        cdig.explain(Net(3), x, "time", n_steps=4, channel_names=names)


def test_cli_channel_names(tmp_path, capsys):
    import json

    from cdig.cli import main

    net = Net(2).float()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.ts"))
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(1, 2, 64)).astype("f4"))
    js = tmp_path / "out.json"
    argv = ["explain", tmp_path / "net.ts", tmp_path / "x.npy", "--domain", "fourier", "--fs",
            32, "--channel-names", "AF3, F7", "--trust-model-file", "--json", js]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    doc = json.loads(js.read_text())
    assert doc["domains"]["fourier"]["coords"]["channel"] == ["AF3", "F7"]
    assert "AF3" in out or "F7" in out  # the summary's top coefficients name the channel
    bad = [str(a) for a in argv[:-2]] + ["--channel-names", "AF3"]
    assert main(bad) != 0
    assert "--channel-names has 1 names but the inputs have 2 channels" in capsys.readouterr().err


def test_component_map_names_its_channels():
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(2)
    x = rng.laplace(size=(1, 3, 200)).cumsum(-1) / 10
    names = ["acc_x", "acc_y", "gyr_z"]
    attr = cdig.explain(Net3T(), x, cdig.domains.ICA(), n_steps=8, channel_names=names)
    fig = attr.plot()
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert all(name in ticks for name in names)


class Net3T(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x[:, 0, :50].sum(-1) - x[:, 2, 100:150].sum(-1) / 10)
