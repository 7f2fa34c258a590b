"""Small pipelines the server and UI tests run for real (importable from every test folder).

``training``: prepare → fit → evaluate, where a changed ``c`` leaves ``prepare`` cached.
``fragile`` and ``hostile`` (a name that is an HTML tag): a first step that fails, so the
second never starts.
"""

from __future__ import annotations

import modelyard as yard

HOSTILE = "<img src=x onerror=alert(1)>"


@yard.step
def prepare(n: int) -> list[int]:
    return list(range(n))


@yard.step
def fit(data: list[int], c: float) -> dict[str, float]:
    return {"w": sum(data) * c}


@yard.step
def evaluate(model: dict[str, float], data: list[int]) -> dict[str, float]:
    return {"auc": model["w"] / (1 + model["w"]), "rows": float(len(data))}


@yard.pipeline
def training(n: int = 5, c: float = 1.0) -> None:
    data = prepare(n)
    evaluate(fit(data, c), data)


@yard.step
def explode(n: int) -> int:
    raise ValueError(f"bad <input> n={n}")


@yard.step
def after(x: int) -> int:
    return x


@yard.pipeline(name="fragile")
def fragile(n: int = 1) -> None:
    after(explode(n))


@yard.pipeline(name=HOSTILE)
def hostile(n: int = 1) -> None:
    after(explode(n))
