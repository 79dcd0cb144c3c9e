"""Realistic report JSON (docs/api.md) for developing and testing the panel without a backend.

`fixture_reports()` returns one report per run: a stuck run with 18 frozen variables, a stuck run whose
outputs stopped varying, a warning run with frozen layers, a 200-variable model, a healthy run, a run
without our data, and a run whose name, variable names and texts are hostile HTML. `runs_listing()`
turns reports into the `/runs` answer, ordered as the backend orders it.
"""

from __future__ import annotations

import math
import time
from typing import Any

# Names that would run script if the panel rendered them as HTML: onerror sets a global the tests read.
HOSTILE_RUN = "\"quoted\" 'run' <img src=x onerror=window.__xss=1>"
HOSTILE_VARIABLE = "<img src=x onerror=window.__xss=2>/kernel"

STATUS_ORDER = {"stuck": 0, "warning": 1, "ok": 2, "no_data": 3}


def _steps(last: int, every: int) -> list[int]:
    return list(range(0, last + 1, every))


def _wiggle(i: int, k: int) -> float:
    """A deterministic ripple in [-1, 1], different per variable k."""
    return math.sin(0.7 * i + 1.3 * k)


def _variable(
    name: str,
    shape: str,
    steps: list[int],
    grad: list[float | None],
    ratio: list[float | None],
    flags: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "shape": shape,
        "dtype": "float32",
        "trainable": True,
        "flags": flags or [],
        "grad_norm": grad[-1],
        "update_ratio": ratio[-1],
        "series": {"steps": steps, "grad_norm": grad, "update_ratio": ratio},
    }


def _healthy_series(steps: list[int], k: int, scale: float = 1.0):
    grad = [
        scale * 0.9 * math.exp(-i / 40) * (1 + 0.15 * _wiggle(i, k)) + 0.05
        for i in range(len(steps))
    ]
    ratio = [None] + [
        1e-3 * math.exp(-i / 60) * (1 + 0.2 * _wiggle(i, k + 3)) for i in range(1, len(steps))
    ]
    return grad, ratio


def _dense_names(
    prefix: str, layers: int, width: int = 64, inputs: int = 32
) -> list[tuple[str, str]]:
    names = []
    for layer in range(layers):
        dense = "dense" if layer == 0 else f"dense_{layer}"
        names.append((f"{prefix}/{dense}/kernel", f"{inputs if layer == 0 else width}x{width}"))
        names.append((f"{prefix}/{dense}/bias", f"{width}"))
    return names


def _report(
    run: str, status: str, headline: str, steps: list[int], wall_time: float, **parts
) -> dict:
    return {
        "run": run,
        "status": status,
        "headline": headline,
        "last_step": steps[-1] if steps else None,
        "last_wall_time": wall_time,
        "findings": parts.get("findings", []),
        "variables": parts.get("variables", []),
        "outputs": parts.get("outputs", []),
    }


def _outputs(
    steps: list[int], output: list[float | None], inputs: list[float | None]
) -> list[dict]:
    return [
        {
            "tag": "outputs",
            "series": {"steps": steps, "output_spread": output, "input_spread": inputs},
        }
    ]


LR_CAUSES = [
    {
        "cause": "The learning rate is zero or tiny.",
        "check": "Print optimizer.learning_rate (and the schedule's value at this step); "
        "a schedule that decays to 0 or a typo such as 1e-30 does this.",
    },
    {
        "cause": "The optimizer is applied to other variables than the model's.",
        "check": "Check that apply_gradients gets zip(grads, model.trainable_variables) of this model, "
        "not of a copy or an earlier model.",
    },
    {
        "cause": "The weights are restored or overwritten every step.",
        "check": "Look for load_weights, set_weights or assign calls inside the training loop.",
    },
]


def lr_zero(now: float) -> dict:
    """Stuck: all 18 variables frozen since step 0 (learning rate 0)."""
    steps = _steps(1200, 20)
    variables = []
    for k, (name, shape) in enumerate(_dense_names("sequential", 9)):
        grad = [0.83 * (1 + 0.05 * _wiggle(i, k)) for i in range(len(steps))]
        ratio = [None] + [0.0] * (len(steps) - 1)
        variables.append(_variable(name, shape, steps, grad, ratio, ["frozen"]))
    finding = {
        "kind": "frozen_weights",
        "severity": "error",
        "targets": [v["name"] for v in variables],
        "since_step": 0,
        "evidence": {"frozen": 18, "of": 18, "gradient_norm": 0.83, "update_ratio": 0.0},
        "message": "All 18 trainable variables have not changed since step 0, "
        "although their gradients are not zero.",
        "causes": LR_CAUSES,
    }
    return _report(
        "lr_zero",
        "stuck",
        "All 18 trainable variables frozen since step 0",
        steps,
        now - 4,
        findings=[finding],
        variables=variables,
        outputs=_outputs(steps, [0.31] * len(steps), [0.92] * len(steps)),
    )


def dead_relu(now: float) -> dict:
    """Stuck: outputs stopped varying at step 340 while inputs vary; dead units in two layers; one
    variable gets no gradient."""
    steps = _steps(800, 20)
    drop = steps.index(340)
    variables = []
    for k, (name, shape) in enumerate(_dense_names("model", 3, width=128)):
        grad, ratio = _healthy_series(steps, k)
        flags = []
        if "bias" in name and k < 4:
            grad = grad[:drop] + [0.0] * (len(steps) - drop)
            ratio = ratio[:drop] + [0.0] * (len(steps) - drop)
            flags = ["dead_units", "frozen"]
        variables.append(_variable(name, shape, steps, grad, ratio, flags))
    # A layer built but not connected to the loss: no gradient at all, so it never moves.
    unused = [None] * len(steps)
    variables.append(
        _variable(
            "model/aux_head/kernel",
            "128x4",
            steps,
            unused,
            [None] + [0.0] * (len(steps) - 1),
            ["missing", "frozen"],
        )
    )
    output = [0.4 * (1 - i / drop) + 0.01 if i < drop else 0.0 for i in range(len(steps))]
    findings = [
        {
            "kind": "invariant_outputs",
            "severity": "error",
            "targets": ["outputs"],
            "since_step": 340,
            "evidence": {"output_spread": 0.0, "input_spread": 0.88},
            "message": "The outputs have been the same for every example of the batch since step 340, "
            "while the inputs vary.",
            "causes": [
                {
                    "cause": "All units of a layer died (ReLU stuck at zero).",
                    "check": "Lower the learning rate, use LeakyReLU or check the initialisation.",
                },
                {
                    "cause": "The last layer's activation saturates.",
                    "check": "Look at the logits before the final activation.",
                },
            ],
        },
        {
            "kind": "dead_units",
            "severity": "warning",
            "targets": ["model/dense/bias", "model/dense_1/bias"],
            "since_step": 340,
            "evidence": {"dead_fraction": [0.97, 1.0], "threshold": 0.5},
            "message": "Most units of 2 layers get no gradient from any example.",
            "causes": [
                {
                    "cause": "ReLU units pushed to always-negative inputs by a large step.",
                    "check": "Lower the learning rate; try LeakyReLU or He initialisation.",
                }
            ],
        },
    ]
    return _report(
        "dead_relu",
        "stuck",
        "Outputs ignore the input since step 340",
        steps,
        now - 12,
        findings=findings,
        variables=variables,
        outputs=_outputs(steps, output, [0.88] * len(steps)),
    )


def frozen_encoder(now: float) -> dict:
    """Warning: the encoder's 4 variables are frozen while the head learns."""
    steps = _steps(600, 10)
    variables = []
    names = _dense_names("encoder", 2) + _dense_names("head", 2)
    for k, (name, shape) in enumerate(names):
        grad, ratio = _healthy_series(steps, k)
        flags = []
        if name.startswith("encoder"):
            ratio = [None] + [0.0] * (len(steps) - 1)
            flags = ["frozen"]
        variables.append(_variable(name, shape, steps, grad, ratio, flags))
    finding = {
        "kind": "frozen_weights",
        "severity": "warning",
        "targets": [v["name"] for v in variables if v["flags"]],
        "since_step": 0,
        "evidence": {"frozen": 4, "of": 8, "gradient_norm": 0.41, "update_ratio": 0.0},
        "message": "4 of 8 trainable variables have not changed since step 0, "
        "although their gradients are not zero.",
        "causes": [
            {
                "cause": "These layers are left out of the optimizer's variables.",
                "check": "Compare the variables given to apply_gradients with model.trainable_variables.",
            },
            {
                "cause": "A layer was frozen on purpose (fine-tuning).",
                "check": "If so, set layer.trainable = False so that they are not reported.",
            },
        ],
    }
    return _report(
        "frozen_encoder",
        "warning",
        "4 of 8 trainable variables frozen since step 0",
        steps,
        now - 30,
        findings=[finding],
        variables=variables,
        outputs=_outputs(
            steps, [0.2 + 0.01 * _wiggle(i, 1) for i in range(len(steps))], [0.9] * len(steps)
        ),
    )


def big_model(now: float) -> dict:
    """Warning: 200 variables; the first block's gradients vanish."""
    steps = _steps(5000, 50)
    variables = []
    parts = [
        ("attention/query/kernel", "256x256"),
        ("attention/query/bias", "256"),
        ("attention/key/kernel", "256x256"),
        ("attention/key/bias", "256"),
        ("attention/value/kernel", "256x256"),
        ("attention/value/bias", "256"),
        ("ffn/dense/kernel", "256x1024"),
        ("ffn/dense/bias", "1024"),
        ("ffn/dense_1/kernel", "1024x256"),
        ("ffn/dense_1/bias", "256"),
    ]
    for block in range(20):
        for j, (part, shape) in enumerate(parts):
            k = block * 10 + j
            grad, ratio = _healthy_series(steps, k, scale=1 + block / 10)
            flags = []
            if block == 0:
                grad = [g * 1e-9 for g in grad]
                ratio = [r if r is None else r * 1e-7 for r in ratio]
                flags = ["vanishing"]
            variables.append(
                _variable(f"transformer/block_{block}/{part}", shape, steps, grad, ratio, flags)
            )
    finding = {
        "kind": "vanishing_gradients",
        "severity": "warning",
        "targets": [v["name"] for v in variables if v["flags"]],
        "since_step": 150,
        "evidence": {"vanishing": 10, "of": 200, "gradient_rms": 3.2e-10, "threshold": 1e-7},
        "message": "The gradients of 10 of 200 variables (block_0) are below 1e-7 per coordinate "
        "since step 150.",
        "causes": [
            {
                "cause": "Deep stack without residual connections or normalisation.",
                "check": "Check that each block adds its input back and normalises.",
            }
        ],
    }
    return _report(
        "transformer_200_vars",
        "warning",
        "Gradients vanish in 10 of 200 variables since step 150",
        steps,
        now - 200,
        findings=[finding],
        variables=variables,
        outputs=_outputs(
            steps, [0.5 + 0.05 * _wiggle(i, 2) for i in range(len(steps))], [1.0] * len(steps)
        ),
    )


def healthy(now: float) -> dict:
    """OK: a small model that learns."""
    steps = _steps(900, 10)
    variables = []
    for k, (name, shape) in enumerate(_dense_names("mlp", 3, width=32, inputs=16)):
        grad, ratio = _healthy_series(steps, k)
        variables.append(_variable(name, shape, steps, grad, ratio))
    output = [0.6 + 0.05 * _wiggle(i, 5) for i in range(len(steps))]
    return _report(
        "baseline",
        "ok",
        "Training looks healthy",
        steps,
        now - 7200,
        variables=variables,
        outputs=_outputs(steps, output, [0.95] * len(steps)),
    )


def no_data(now: float) -> dict:
    """No data of ours: only tf.summary.scalar was logged."""
    report = _report("scalars_only", "no_data", "No tb-stuckplugin data in this run", [], None)
    report["last_step"] = None
    return report


def hostile(now: float) -> dict:
    """Warning: a run, a variable, a finding and a cause whose texts are HTML that would run script."""
    steps = _steps(200, 10)
    variables = []
    for k, name in enumerate([HOSTILE_VARIABLE, "ok\"quote'/bias"]):
        grad, ratio = _healthy_series(steps, k)
        flags = []
        if k == 0:
            ratio = [None] + [0.0] * (len(steps) - 1)
            flags = ["frozen"]
        variables.append(_variable(name, "4x4", steps, grad, ratio, flags))
    finding = {
        "kind": "frozen_weights",
        "severity": "warning",
        "targets": [HOSTILE_VARIABLE],
        "since_step": 10,
        "evidence": {"frozen": 1, "of": 2, "<b>key</b>": "<img src=x onerror=window.__xss=3>"},
        "message": f"1 of 2 trainable variables ({HOSTILE_VARIABLE}) <b>frozen</b> since step 10.",
        "causes": [
            {
                "cause": "<script>window.__xss=4</script> A cause with markup.",
                "check": '<a href="javascript:window.__xss=5">click</a>',
            }
        ],
    }
    return _report(
        HOSTILE_RUN,
        "warning",
        f"{HOSTILE_VARIABLE} frozen since step 10",
        steps,
        now - 60,
        findings=[finding],
        variables=variables,
        outputs=[
            {
                "tag": "<img src=x onerror=window.__xss=6>",
                "series": {
                    "steps": steps,
                    "output_spread": [0.3] * len(steps),
                    "input_spread": [0.9] * len(steps),
                },
            }
        ],
    )


def fixture_reports(now: float | None = None) -> dict[str, dict]:
    """Every fixture run's report, by run name."""
    now = time.time() if now is None else now
    reports = [
        builder(now)
        for builder in (lr_zero, dead_relu, frozen_encoder, big_model, healthy, no_data, hostile)
    ]
    return {report["run"]: report for report in reports}


def runs_listing(reports: dict[str, dict]) -> dict:
    """The `/runs` answer for these reports: most urgent first, then by name."""
    runs = [
        {
            "run": r["run"],
            "status": r["status"],
            "headline": r["headline"],
            "last_step": r["last_step"],
            "last_wall_time": r["last_wall_time"],
            "kinds": sorted({f["kind"] for f in r["findings"]}),
        }
        for r in reports.values()
    ]
    runs.sort(key=lambda r: (STATUS_ORDER[r["status"]], r["run"]))
    return {"runs": runs}
