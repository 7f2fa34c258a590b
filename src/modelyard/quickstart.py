"""The quickstart: train and track a few scikit-learn models, then say what to run next.

Uses the breast-cancer dataset that scikit-learn ships (no download). Each model is a run in
the experiment ``quickstart`` with its params, the train and test data (digest, schema,
profile), a learning curve, test metrics, a few artifacts and the model itself (with its
signature). The best model is registered as ``breast-cancer`` and the alias ``champion`` points
at it. Later stages of Modelyard extend this file: pipelines, serving, monitoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelyard.settings import Settings

__all__ = ["EXPERIMENT", "MODEL_NAME", "QuickstartResult", "run_quickstart"]

EXPERIMENT = "quickstart"
MODEL_NAME = "breast-cancer"


@dataclass(frozen=True)
class QuickstartResult:
    experiment: str
    run_ids: tuple[str, ...]
    best_run_id: str
    best_name: str
    best_auc: float
    database_url: str
    model_uri: str
    model_version: int


def _candidates() -> list[tuple[str, dict[str, Any], Callable[..., Any]]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logreg(C: float) -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))

    return [
        ("logreg-C0.1", {"model": "logistic_regression", "C": 0.1}, lambda: logreg(0.1)),
        ("logreg-C1", {"model": "logistic_regression", "C": 1.0}, lambda: logreg(1.0)),
        (
            "forest-depth6",
            {"model": "random_forest", "n_estimators": 150, "max_depth": 6},
            lambda: RandomForestClassifier(n_estimators=150, max_depth=6, random_state=0),
        ),
        (
            "boosting-lr0.1",
            {"model": "gradient_boosting", "n_estimators": 120, "learning_rate": 0.1},
            lambda: GradientBoostingClassifier(n_estimators=120, learning_rate=0.1, random_state=0),
        ),
    ]


def run_quickstart(
    settings: Settings | None = None, progress: Callable[[str], None] | None = None
) -> QuickstartResult:
    """Train and track the quickstart models; returns which one won."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    from modelyard.models import log_model
    from modelyard.registry import register_model, set_alias
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(settings or Settings.load())
    data = load_breast_cancer(as_frame=True)
    frame = data.frame
    train, test = train_test_split(frame, test_size=0.25, random_state=42, stratify=frame["target"])
    features = [c for c in frame.columns if c != "target"]
    run_ids = []
    for name, params, build in _candidates():
        if progress:
            progress(name)
        run_id = client.create_run(EXPERIMENT, name=name, tags={"source": "modelyard quickstart"})
        try:
            client.log_params(run_id, params)
            client.log_dataset(run_id, train, name="breast_cancer_train", context="training")
            client.log_dataset(run_id, test, name="breast_cancer_test", context="evaluation")
            model = build()
            started = time.perf_counter()
            model.fit(train[features], train["target"])
            fit_seconds = time.perf_counter() - started
            if hasattr(model, "staged_predict_proba"):
                for step, proba in enumerate(model.staged_predict_proba(test[features])):
                    client.log_metric(
                        run_id, "test_log_loss", log_loss(test["target"], proba), step
                    )
            proba = model.predict_proba(test[features])[:, 1]
            predicted = (proba >= 0.5).astype(int)
            metrics = {
                "accuracy": accuracy_score(test["target"], predicted),
                "f1": f1_score(test["target"], predicted),
                "roc_auc": roc_auc_score(test["target"], proba),
                "log_loss": log_loss(test["target"], proba),
                "fit_seconds": fit_seconds,
            }
            client.log_metrics(run_id, metrics)
            matrix = confusion_matrix(test["target"], predicted)
            client.log_dict(
                run_id,
                {"labels": ["malignant", "benign"], "matrix": np.asarray(matrix).tolist()},
                "confusion_matrix.json",
            )
            log_model(
                model, "model", input_example=test[features].head(5), run_id=run_id, client=client
            )
            scores = test[["target"]].assign(score=proba, predicted=predicted)
            client.log_text(run_id, scores.to_csv(index=False), "predictions/test_scores.csv")
            client.end_run(run_id)
        except BaseException as exc:
            client.end_run(run_id, "FAILED" if isinstance(exc, Exception) else "KILLED", str(exc))
            raise
        run_ids.append(run_id)
    best = client.search_runs(EXPERIMENT, order_by=["metrics.roc_auc desc"], max_results=1)[0]
    version = register_model(f"runs:/{best.run_id}/model", MODEL_NAME, client=client)
    set_alias(MODEL_NAME, "champion", version.version, client=client)
    client.close()
    return QuickstartResult(
        experiment=EXPERIMENT,
        run_ids=tuple(run_ids),
        best_run_id=best.run_id,
        best_name=best.name,
        best_auc=best.metrics["roc_auc"],
        database_url=client.config.database_url,
        model_uri=f"models:/{MODEL_NAME}@champion",
        model_version=version.version,
    )


# -- the same training as a pipeline: prepare -> train -> evaluate, then register ------------

PIPELINE_MODEL_NAME = "breast-cancer-pipeline"
PIPELINE_EXPERIMENT = "quickstart-pipeline"


@dataclass(frozen=True)
class PipelineDemo:
    first_run_id: str
    second_run_id: str
    steps: tuple[tuple[str, str, bool, bool], ...]  # (step, status, cached first, cached second)
    model_uri: str
    accuracy: float


def _pipeline() -> Any:
    import pandas as pd

    from modelyard.pipelines import Model, pipeline, step

    @step
    def prepare(test_size: float = 0.25, seed: int = 42) -> pd.DataFrame:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
        _, test = train_test_split(
            frame, test_size=test_size, random_state=seed, stratify=frame["target"]
        )
        split = ["test" if i in test.index else "train" for i in frame.index]
        prepared: pd.DataFrame = frame.assign(split=split)
        return prepared

    @step
    def train(df: pd.DataFrame, C: float = 1.0) -> Model:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rows = df[df["split"] == "train"]
        X, y = rows.drop(columns=["target", "split"]), rows["target"]
        fitted = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(X, y)
        return Model(fitted, input_example=X.head(5))

    @step
    def evaluate(model: Model, df: pd.DataFrame) -> dict[str, float]:
        rows = df[df["split"] == "test"]
        X, y = rows.drop(columns=["target", "split"]), rows["target"]
        return {"test_accuracy": float((model.predict(X) == y.to_numpy()).mean())}

    @pipeline(name="breast_cancer_training")
    def training(C: float = 1.0) -> None:
        df = prepare()
        evaluate(train(df, C), df)

    return training


def run_pipeline_demo(settings: Settings | None = None) -> PipelineDemo:
    """Run the training pipeline twice (the second run hits the cache) and register its model."""
    from modelyard.registry import register_model
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(settings or Settings.load())
    training = _pipeline()
    first = training.run(C=1.0, max_workers=0, experiment=PIPELINE_EXPERIMENT, client=client)
    second = training.run(C=1.0, max_workers=0, experiment=PIPELINE_EXPERIMENT, client=client)
    train_run = first.steps["train"].run_id
    version = register_model(
        f"runs:/{train_run}/outputs/output", PIPELINE_MODEL_NAME, client=client
    )
    steps = tuple(
        (name, second.steps[name].status, first.steps[name].cached, second.steps[name].cached)
        for name in first.steps
    )
    client.close()
    return PipelineDemo(
        first_run_id=first.run_id,
        second_run_id=second.run_id,
        steps=steps,
        model_uri=f"models:/{PIPELINE_MODEL_NAME}/{version.version}",
        accuracy=float(first.metrics.get("test_accuracy", float("nan"))),
    )
