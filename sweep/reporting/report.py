"""``results/<dataset>/report.html``: one self-contained page about a sweep.

Everything a person reviewing a sweep asks, from the study and the files the sweep wrote: the
headline (data, trials, the final model against the baseline on test), the leaderboard (sortable
and searchable with List.js, inlined from ``sweep/reporting/vendor/``), learning curves, Optuna's plots,
the final model's card (layers, per-class scores, confusion matrix, the test images it got
wrong) and what it takes to reproduce it. Images are inlined as data URIs and nothing is
fetched, so the file opens from disk or from an e-mail attachment.

No TensorFlow: the sweep writes the model's figures and summary into ``best/`` when it tests it.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.leaderboard import trials_frame
from sweep.choice.pareto import FIGURES, LABELS, candidates, front
from sweep.choice.stats import with_interval
from sweep.choice.trials import BASELINE_ITSELF, is_baseline, origin, record
from sweep.files import write_text
from sweep.reporting.plots import MIN_TRIALS_FOR_IMPORTANCE
from sweep.search.study import recorded_settings

VENDOR = Path(__file__).resolve().parent / "vendor"
# The curves of this many best completed trials are drawn, with the baseline's.
CURVES = 5
# Leaderboard columns the page leaves out: the CSV has them.
HIDDEN = ("val_low", "val_high", "started", "finished")

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.headline { font-size: 1.1em; background: #f4f7fb; padding: 0.8em 1.2em; border-radius: 6px; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 3px 8px; border-bottom: 1px solid #eee; }
th.sort { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; white-space: nowrap; }
th.sort.asc::after { content: " ▲"; } th.sort.desc::after { content: " ▼"; }
tr.baseline { background: #fff6dd; } tr.first { background: #eef8ee; } tr.fail td { color: #a33; }
.scroll { overflow-x: auto; max-height: 70vh; } input.search { margin: 0.5em 0; padding: 4px 8px; width: 20em; }
img { max-width: 100%; border: 1px solid #eee; } pre { background: #f8f8f8; padding: 0.8em; overflow-x: auto; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; } .figures figure { margin: 0; flex: 1 1 480px; }
"""


def write_report(study: optuna.Study, folder: Path) -> Path:
    """Write ``folder``/report.html for ``study`` (atomically) and return its path."""
    return write_text(folder / "report.html", render(study, folder))


def render(study: optuna.Study, folder: Path) -> str:
    """The report page of ``study``, whose results are in ``folder``."""
    record = recorded_settings(study)
    trials = study.get_trials(deepcopy=False)
    metrics = _json(folder / "best" / "metrics.json")
    space = record.get("space", {})
    title = f"sweep report: {folder.name}"
    curves = learning_curves(trials, folder / "plots" / "learning_curves.png")
    objective = record.get("objective", "accuracy")
    # Every completed trial is measured on LiteRT, so an accuracy-only study shows its
    # latency trade-off too: which cheaper model is nearly as good.
    cost = objective if objective in FIGURES else "latency"
    pareto_plot = pareto_front(trials, cost, folder / "plots" / "pareto_front.png")
    pareto_title = "Pareto front" if cost == objective else "Accuracy against latency (the search maximised accuracy)"
    sections = [
        f"<h1>{_e(title)}</h1>",
        f"<p>Study {_e(study.study_name)}, written {datetime.now().isoformat(timespec='seconds')}.</p>",
        f'<div class="headline">{headline(trials, metrics, folder)}</div>',
        "<h2>Leaderboard</h2>",
        leaderboard_table(trials, list(space.get("params", {})), objective),
        "<h2>Learning curves and the search</h2>",
        _figures(
            [
                ("Validation accuracy of the best trials and the baseline", _file_png(curves) if curves else None),
                (pareto_title, _file_png(pareto_plot) if pareto_plot else None),
                *((name, _file_png(folder / "plots" / f"{file}.png")) for name, file in _STUDY_PLOTS),
            ]
        ),
        _left_out(trials, folder / "plots"),
        "<h2>The final model</h2>",
        model_card(metrics, folder / "best"),
        "<h2>Reproduce it</h2>",
        reproduce(study.study_name, record, metrics, folder),
    ]
    script = (VENDOR / "list.min.js").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
{"".join(sections)}
<script>{script}</script>
<script>new List("leaderboard", {{valueNames: JSON.parse(document.getElementById("columns").textContent)}});</script>
</body></html>
"""


_STUDY_PLOTS = (
    ("Optimisation history", "optimization_history"),
    ("Parameter importances", "param_importances"),
    ("Parallel coordinates", "parallel_coordinate"),
)


def averaged_words(metrics: Mapping[str, Any]) -> str:
    """What the final model averages (its ``members`` and test-time ``views``), in words."""
    members, views = metrics.get("members", 1), metrics.get("views", 1)
    what = ([f"{members} models trained side by side"] if members > 1 else []) + (
        [f"{views} views of each image (test-time shifts)"] if views > 1 else []
    )
    return " over ".join(what)


def headline(trials: list[FrozenTrial], metrics: Mapping[str, Any] | None, folder: Path) -> str:
    """Data, time, trial counts and the answer against the baseline on test."""
    states = [t.state for t in trials]
    counts = ", ".join(
        f"{states.count(s)} {s.name.lower()}" for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    )
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    took = f" over {(max(ends) - min(starts)).total_seconds() / 60:.1f} min" if starts and ends else ""
    lines = [f"<b>{len(trials)} trials</b> ({counts}){took}."]
    if metrics is None:
        lines.append(f"No final model in {_e(str(folder / 'best'))} (no retrain here yet): run make retrain.")
        return "<br>".join(lines)
    sizes = [f"{metrics[key]:,} {word}" for key, word in _SPLITS if metrics.get(key)]
    lines.insert(0, f"Data: {_e(metrics['dataset'])} ({', '.join(sizes)}; {len(metrics['class_names'])} classes).")
    itself = any(t.number == metrics["trial"] and is_baseline(t) for t in trials)
    against = (
        BASELINE_ITSELF
        if itself and not metrics.get("members")
        else f"the baseline retrained the same way: {_with_interval(metrics, 'baseline_test_accuracy')}, "
        f"gain {_with_interval(metrics, 'test_gain', signed=True)}"
        + (f", averaging {metrics['members']} copies of it" if itself and metrics.get("members") else "")
    )
    lines.append(
        f"<b>Final model: trial {metrics['trial']}, test accuracy {_with_interval(metrics, 'test_accuracy')}</b>; "
        f"{against}."
    )
    if metrics.get("tflite_kb") is not None:
        int8 = f" ({metrics['int8_kb']:,.1f} KiB int8)" if metrics.get("int8_kb") else ""
        lines.append(
            f"On a device: {metrics.get('param_count', 0):,} parameters, {metrics['tflite_kb']:,.1f} KiB as "
            f"TFLite{int8}, {metrics['latency_ms']:.3f} ms per image at batch 1 in LiteRT on this CPU."
        )
    if metrics.get("single_test_accuracy") is not None and not itself:
        lines.append(
            f"It averages {averaged_words(metrics)}; one model on the image alone (export/single/) tests "
            f"{metrics['single_test_accuracy']:.4f}."
        )
    lines.append(f"Why this trial: {_e(str(metrics.get('chosen_because', '')))}.")
    exported = sorted(path.name for path in (folder / "export").glob("*")) if (folder / "export").is_dir() else []
    lines.append(f"Exported to export/: {_e(', '.join(exported) or 'nothing yet')}.")
    return "<br>".join(lines)


_SPLITS = (("train_images", "training"), ("val_images", "validation"), ("test_images", "test images"))


def leaderboard_table(trials: Iterable[FrozenTrial], params: list[str], objective: str = "accuracy") -> str:
    """Every trial as a row, sortable by any column and searchable; the baseline and the first
    trials and starting points marked by colour."""
    frame = trials_frame(trials, params, objective).drop(columns=list(HIDDEN))
    columns = [str(column) for column in frame.columns]
    kinds = {"baseline": "baseline", "first": "first", "portfolio:": "first"}
    rows = []
    for row in frame.itertuples(index=False):
        values = dict(zip(columns, row, strict=True))
        marks = [kinds.get(str(values.get("origin", "")).split(" ")[0], ""), str(values["state"])]
        cells = "".join(_cell(column, values[column]) for column in columns)
        rows.append(f'<tr class="{" ".join(m for m in marks if m)}">{cells}</tr>')
    names = json.dumps(columns).replace("<", "\\u003c")  # no "</script>" inside the script
    header = "".join(f'<th class="sort" data-sort="{_e(c)}">{_e(c.replace("_", " "))}</th>' for c in columns)
    return (
        '<div id="leaderboard"><input class="search" placeholder="Filter: a state, an origin, a value…">'
        f" Yellow: the baseline; green: first trials and starting points. Click a header to sort."
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody class="list">{"".join(rows)}'
        f'</tbody></table></div><script type="application/json" id="columns">{names}</script></div>'
    )


def learning_curves(trials: list[FrozenTrial], path: Path) -> Path | None:
    """Validation accuracy against the share of training done, for the best completed trials
    and the baseline (what the pruner compared them on); None before any trial reported."""
    from sweep.reporting import plots

    done = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and t.intermediate_values and t.values),
        key=lambda t: -t.values[0],
    )
    chosen = done[:CURVES] + [t for t in done[CURVES:] if is_baseline(t)]
    if not chosen:
        return None
    curves = [
        (
            f"trial {t.number} ({origin(t)}), {t.values[0]:.4f}",
            sorted(t.intermediate_values.items()),
            is_baseline(t),
        )
        for t in chosen
    ]
    return plots.plot_curves(curves, path, "Share of the trial's training done (%)", "Validation accuracy")


def pareto_front(trials: list[FrozenTrial], objective: str, path: Path) -> Path | None:
    """Accuracy against ``objective``'s cost, its Pareto front marked (None before any measure)."""
    from sweep.reporting import plots

    measured = candidates(trials, objective)
    if not measured:
        return None
    figure = FIGURES[objective]
    points = [(record(t)[figure], t.values[0]) for t in measured]
    optimal = [(record(t)[figure], t.values[0], str(t.number)) for t in front(trials, objective)]
    base = next((t for t in trials if is_baseline(t) and record(t).get(figure)), None)
    marked = (record(base)[figure], base.values[0]) if base is not None and base.values else None
    return plots.plot_pareto(points, optimal, marked, path, LABELS[objective])


def model_card(metrics: Mapping[str, Any] | None, best: Path) -> str:
    """Layers, parameters, per-class scores, the confusion matrix and the mistakes."""
    if metrics is None:
        return "<p>No final model here yet: the retrain writes it into best/.</p>"
    params = ", ".join(f"{_e(k)}={_e(_format(v))}" for k, v in metrics.get("params", {}).items())
    per_class = pd.DataFrame(metrics.get("per_class", {})).T
    table = per_class.to_html(float_format=lambda v: f"{v:.4f}", border=0) if not per_class.empty else ""
    summary = best / "summary.txt"
    layers = f"<pre>{_e(summary.read_text(encoding='utf-8'))}</pre>" if summary.is_file() else ""
    return (
        f"<p>{metrics.get('param_count', 0):,} parameters; trained {metrics.get('epochs', '?')} epochs on training + "
        f"validation images in {metrics.get('train_seconds', 0):.0f} s.</p><p>Parameters: {params}</p>{layers}"
        f"<h3>Per class, on the test set</h3>{table}"
        + _figures(
            [
                ("Confusion matrix", _file_png(best / "confusion_matrix.png")),
                ("Test images it got wrong", _file_png(best / "mistakes.png")),
                ("Loss and accuracy while retraining", _file_png(best / "history.png")),
            ]
        )
    )


def reproduce(name: str, record: Mapping[str, Any], metrics: Mapping[str, Any] | None, folder: Path) -> str:
    """The command, the settings, the space, the data's checksum and the library versions."""
    data = record.get("data", {})
    flags = [f"--dataset {data.get('dataset')}", f"--seed {data.get('seed', 0)}", f"--study {name}"]
    if data.get("val_fraction", 0.1) != 0.1:
        flags.append(f"--val-fraction {data['val_fraction']}")
    if data.get("color_mode", "auto") != "auto":
        flags.append(f"--color-mode {data['color_mode']}")
    if data.get("image_size"):
        flags.append(f"--image-size {'x'.join(map(str, data['image_size']))}")
    if record.get("engine", "optuna") == "optuna":
        flags += [f"--sampler {record.get('sampler')}", f"--pruner {record.get('pruner')}"]
    else:
        flags.append(f"--engine {record['engine']}")
    if record.get("time_limit"):
        flags.append(f"--time-limit {record['time_limit']:.0f}")
    if record.get("trials"):
        flags.append(f"--trials {record['trials']}")
    flags.append(f"--space {record.get('space_source')}")
    if record.get("space", {}).get("model"):
        flags.append(f"--model {record['space']['model']}")
    for key, value in (record.get("limits") or {}).items():
        if value is not None:
            flags.append(f"--{key.replace('_', '-')} {value}")
    if record.get("objective", "accuracy") != "accuracy":
        flags.append(f"--objective {record['objective']}")
    dataset = _json(folder / "dataset.json") or {}
    versions = (metrics or {}).get("versions", {})
    return (
        f"<pre>python -m sweep sweep {_e(' '.join(flags))}</pre>"
        f"<p>Data checksum (fingerprint): {_e(str(dataset.get('fingerprint') or record.get('fingerprint')))}; "
        f"source: {_e(str(dataset.get('source', '')))}.</p>"
        f"<p>Versions: {_e(', '.join(f'{k} {v}' for k, v in versions.items()) or 'not recorded')}.</p>"
        f"<h3>Search space ({_e(str(record.get('space_source')))})</h3>"
        f"<pre>{_e(json.dumps(record.get('space', {}), indent=2))}</pre>"
    )


def _left_out(trials: list[FrozenTrial], plots: Path) -> str:
    """Why the parameter importances are not shown, where they are not: too few trials."""
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    if (plots / "param_importances.png").is_file() or complete >= MIN_TRIALS_FOR_IMPORTANCE:
        return ""
    return (
        f"<p>Parameter importances and parallel coordinates are left out: they need at least "
        f"{MIN_TRIALS_FOR_IMPORTANCE} completed trials to mean anything, and this study has {complete}.</p>"
    )


def _figures(figures: list[tuple[str, str | None]]) -> str:
    shown = [
        f'<figure><img alt="{_e(t)}" src="{src}"><figcaption>{_e(t)}</figcaption></figure>' for t, src in figures if src
    ]
    return f'<div class="figures">{"".join(shown)}</div>' if shown else "<p>No figures yet.</p>"


def _file_png(path: Path) -> str | None:
    """A PNG file as a data URI (inline in the page), None where there is none."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii") if path.is_file() else None


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _with_interval(metrics: Mapping[str, Any], key: str, signed: bool = False) -> str:
    value, interval = metrics.get(key), metrics.get(f"{key}_ci95")
    if value is None:
        return "not measured"
    spec = "+.4f" if signed else ".4f"
    if not interval:
        return format(value, spec)
    return with_interval(value, interval[0], interval[1], signed=signed)


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(column: str, value: Any) -> str:
    """A table cell; a rounded number shows its full value on hover."""
    if value is None or pd.isna(value):
        return f'<td class="{_e(column)}"></td>'
    hover = f' title="{value!r}"' if isinstance(value, float) and _format(value) != repr(value) else ""
    return f'<td class="{_e(column)}"{hover}>{_e(_format(value))}</td>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)
