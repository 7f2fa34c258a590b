"""The python flavor: your own class, its artifacts and code paths, loaded in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.errors import InvalidArgument, InvalidState
from modelyard.models import PythonModel, load_model, save_model

SRC = Path(modelyard.__file__).resolve().parent.parent


class Doubler(PythonModel):
    def predict(self, df):  # type: ignore[no-untyped-def]
        return df.assign(doubled=df["x"] * 2)


class Thresholded(PythonModel):
    def load_context(self, artifacts):  # type: ignore[no-untyped-def]
        self.threshold = float(Path(artifacts["threshold"]).read_text())

    def predict(self, df):  # type: ignore[no-untyped-def]
        return (df["x"] > self.threshold).to_numpy()

    def predict_proba(self, df):  # type: ignore[no-untyped-def]
        p = (df["x"] > self.threshold).to_numpy().astype(float)
        return np.column_stack([1 - p, p])


def test_python_model_returns_a_frame_and_gets_a_signature(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    info = save_model(Doubler(), tmp_path / "m", input_example=df)
    assert (info.flavor, info.serialization, info.files) == ("python", "pickle",
                                                             ("python_model.pkl",))  # fmt: skip
    assert [(c.name, c.type) for c in info.signature.outputs] == [
        ("x", "double"),
        ("doubled", "double"),
    ]
    predictor = load_model(tmp_path / "m")
    out = predictor.predict([{"x": 4}])
    assert isinstance(out, pd.DataFrame) and out["doubled"].tolist() == [8.0]
    with pytest.raises(InvalidState, match="has no predict_proba"):
        predictor.predict_proba(df)


def test_artifacts_reach_load_context(tmp_path):
    (tmp_path / "threshold.txt").write_text("2.5")
    df = pd.DataFrame({"x": [1.0, 3.0]})
    info = save_model(
        Thresholded(),
        tmp_path / "m",
        input_example=df,
        artifacts={"threshold": tmp_path / "threshold.txt"},
    )
    assert info.files == ("artifacts/threshold/threshold.txt", "python_model.pkl")
    assert info.manifest.has_predict_proba
    predictor = load_model(tmp_path / "m")
    assert predictor.predict(df).tolist() == [False, True]
    assert predictor.predict_proba(df).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert predictor.raw.threshold == 2.5


def test_python_flavor_arguments_are_checked(tmp_path):
    from sklearn.linear_model import LinearRegression

    with pytest.raises(InvalidArgument, match="does not exist"):
        save_model(Doubler(), tmp_path / "a", artifacts={"x": tmp_path / "missing"})
    with pytest.raises(InvalidArgument, match="without '/'"):
        save_model(Doubler(), tmp_path / "b", artifacts={"a/b": tmp_path})
    with pytest.raises(InvalidArgument, match="PythonModel only"):
        save_model(LinearRegression(), tmp_path / "c", code_paths=[tmp_path])


def _run(code: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_code_paths_and_artifacts_in_a_fresh_process(tmp_path):
    """Logged from a project whose modules are importable; loaded where they are not."""
    project = tmp_path / "project"
    (project / "src" / "features").mkdir(parents=True)
    (project / "src" / "features" / "__init__.py").write_text(
        "def add_ratio(df):\n    return df.assign(ratio=df['a'] / df['b'])\n"
    )
    (project / "src" / "churn.py").write_text(
        textwrap.dedent(
            """
            import pandas as pd
            import modelyard as yard
            from features import add_ratio

            class Churn(yard.PythonModel):
                def load_context(self, artifacts):
                    self.lookup = pd.read_csv(artifacts["lookup"]).set_index("city")["boost"]

                def predict(self, df):
                    out = add_ratio(df)
                    return (out["ratio"] + df["city"].map(self.lookup)).to_numpy()
            """
        )
    )
    (project / "lookup.csv").write_text("city,boost\noslo,1\nrome,2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        PYTHONPATH=str(SRC),
        MODELYARD_PROJECT_ROOT=str(tmp_path / "store"),
        MODELYARD_CAPTURE_CODE="false",
        MODELYARD_CAPTURE_ENVIRONMENT="false",
    )
    uri = _run(
        """
        import sys; sys.path.insert(0, "src")
        import pandas as pd
        import modelyard as yard
        from churn import Churn
        df = pd.DataFrame({"a": [1.0, 4.0], "b": [2.0, 2.0], "city": ["oslo", "rome"]})
        with yard.start_run():
            info = yard.log_model(Churn(), input_example=df, artifacts={"lookup": "lookup.csv"},
                                  code_paths=["src/churn.py", "src/features"])
        print(info.uri)
        """,
        project,
        env,
    )
    assert uri.startswith("runs:/")
    result = _run(
        f"""
        import json, sys
        import modelyard as yard
        predictor = yard.load_model({uri!r})
        print(json.dumps({{
            "predictions": predictor.predict([{{"a": 3.0, "b": 1.0, "city": "rome"}}]).tolist(),
            "files": sorted(predictor.manifest.files),
            "churn_from": sys.modules["churn"].__file__,
        }}))
        """,
        tmp_path,  # not the project: its modules are not importable from here
        env,
    )
    data = json.loads(result)
    assert data["predictions"] == [5.0]
    assert data["files"] == [
        "artifacts/lookup/lookup.csv",
        "code/churn.py",
        "code/features/__init__.py",
        "python_model.pkl",
    ]
    assert "/cache/models/" in data["churn_from"]
