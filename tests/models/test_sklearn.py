"""The scikit-learn flavor: skops by default, pickle as fallback, ONNX export, predictions."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from modelyard.errors import AlreadyExists, InvalidArgument, InvalidState
from modelyard.models import ColSpec, SignatureError, TensorSpec, load_model, log_model, save_model


def _double(x):
    return x * 2


def test_logistic_regression_round_trip_through_a_run(local_client, run_id, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    info = log_model(model, "model", input_example=frame[:5], run_id=run_id, client=local_client)
    assert info.uri == f"runs:/{run_id}/model"
    assert (info.flavor, info.serialization, info.files) == ("sklearn", "skops", ("model.skops",))
    assert [(c.name, c.type) for c in info.signature.inputs] == [
        ("age", "double"),
        ("income", "double"),
        ("tenure", "double"),
        ("score", "double"),
    ]
    assert info.signature.outputs == (TensorSpec("int64", (-1,)),)

    predictor = load_model(info.uri, client=local_client)
    assert predictor.flavor == "sklearn" and predictor.model_digest == info.model_digest
    assert predictor.signature == info.signature
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(predictor.predict_proba(frame), model.predict_proba(frame))
    assert isinstance(predictor.raw, LogisticRegression)
    records = frame[:3].to_dict("records")
    np.testing.assert_array_equal(predictor.predict(records), model.predict(frame[:3]))
    np.testing.assert_array_equal(predictor.predict(records[0]), model.predict(frame[:1]))
    shuffled = frame[["score", "age", "tenure", "income"]]
    np.testing.assert_array_equal(predictor.predict(shuffled), model.predict(frame))


def test_manifest_records_everything(local_client, run_id, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    info = log_model(model, input_example=frame[:5], run_id=run_id, client=local_client)
    raw = local_client.read_artifact(run_id, "model/modelyard-model.json")
    data = json.loads(raw)
    assert data["format_version"] == 1
    assert data["flavor"] == "sklearn" and data["serialization"] == "skops"
    assert data["framework"]["name"] == "scikit-learn"
    assert data["run_id"] == run_id and data["model_digest"] == info.model_digest
    assert data["has_predict_proba"] is True
    assert set(data["files"]) == {"model.skops"}
    assert len(data["input_example"]) == 5 and set(data["input_example"][0]) == set(frame)
    names = {r.split("==")[0] for r in data["requirements"]}
    assert {"scikit-learn", "numpy", "skops", "modelyard"} <= names
    assert local_client.get_run(run_id).tags["modelyard.models"] == '["model"]'


def test_a_second_model_is_listed_and_a_taken_name_refused(local_client, run_id, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    log_model(model, "a", run_id=run_id, client=local_client)
    log_model(model, "b", run_id=run_id, client=local_client)
    assert json.loads(local_client.get_run(run_id).tags["modelyard.models"]) == ["a", "b"]
    with pytest.raises(AlreadyExists, match="already has artifacts under 'a'"):
        log_model(model, "a", run_id=run_id, client=local_client)


def test_pipeline_with_strings_and_trees_stays_on_skops(tmp_path, frame, labels):
    df = frame.assign(city=np.array(["oslo", "rome", "lima", "kyiv"] * 50))
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income", "tenure", "score"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ]
        ),
        RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0, n_jobs=1),
    ).fit(df, labels)
    info = save_model(pipeline, tmp_path / "m", input_example=df[:5])
    assert info.serialization == "skops"
    assert "sklearn.tree._tree.Tree" in info.manifest.options["trusted_types"]
    assert info.signature.inputs[-1] == ColSpec("city", "string")
    predictor = load_model(tmp_path / "m")
    np.testing.assert_array_equal(predictor.predict(df), pipeline.predict(df))
    np.testing.assert_allclose(predictor.predict_proba(df), pipeline.predict_proba(df))
    with pytest.raises(SignatureError) as info_err:
        predictor.predict(df.assign(city=1.5).drop(columns=["age"]))
    assert info_err.value.problems == [
        "column 'age' (double) is missing",
        "column 'city' is double, expected string: no safe conversion",
    ]


def test_untrusted_types_fall_back_to_pickle_with_a_note(tmp_path, frame, labels):
    model = make_pipeline(FunctionTransformer(_double), LogisticRegression()).fit(frame, labels)
    info = save_model(model, tmp_path / "m", input_example=frame[:5])
    assert info.serialization == "pickle" and info.files == ("model.pkl",)
    assert any("_double" in note and "cloudpickle" in note for note in info.manifest.notes)
    predictor = load_model(tmp_path / "m")
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))


def test_explicit_pickle_and_unknown_serialization(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    info = save_model(model, tmp_path / "p", serialization="pickle")
    assert info.serialization == "pickle" and info.signature is None
    predictor = load_model(str(tmp_path / "p"))
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
    with pytest.raises(InvalidArgument, match="not 'joblib'"):
        save_model(model, tmp_path / "j", serialization="joblib")


def test_onnx_export_matches_within_1e_5(local_client, run_id, frame, labels):
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)
    info = log_model(
        model, "onnx", input_example=frame[:5], serialization="onnx", run_id=run_id,
        client=local_client,
    )  # fmt: skip
    assert info.serialization == "onnx" and info.files == ("model.onnx",)
    predictor = load_model(info.uri, client=local_client)
    assert type(predictor.raw).__name__ == "InferenceSession"
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
    np.testing.assert_allclose(
        predictor.predict_proba(frame), model.predict_proba(frame), rtol=0, atol=1e-5
    )


def test_onnx_export_of_a_regressor_and_a_mixed_frame(tmp_path, frame, labels):
    reg = LinearRegression().fit(frame, frame["income"] * 3)
    save_model(reg, tmp_path / "r", input_example=frame[:5], serialization="onnx")
    predictor = load_model(tmp_path / "r")
    out = predictor.predict(frame)
    assert out.shape == (200,)
    np.testing.assert_allclose(out, reg.predict(frame), atol=1e-5)
    with pytest.raises(InvalidState, match="has no predict_proba"):
        predictor.predict_proba(frame)
    df = frame.assign(city=np.array(["oslo", "rome"] * 100))
    pipeline = make_pipeline(
        ColumnTransformer(
            [("num", "passthrough", ["age", "score"]), ("cat", OneHotEncoder(), ["city"])]
        ),
        LogisticRegression(),
    ).fit(df, labels)
    save_model(pipeline, tmp_path / "mixed", input_example=df[:5], serialization="onnx")
    mixed = load_model(tmp_path / "mixed")
    np.testing.assert_allclose(
        mixed.predict_proba(df), pipeline.predict_proba(df), rtol=0, atol=1e-5
    )


def test_onnx_needs_an_example(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    with pytest.raises(InvalidArgument, match="needs input_example"):
        save_model(model, tmp_path / "m", serialization="onnx")


def test_model_fitted_on_arrays_gets_arrays_without_warnings(tmp_path, frame, labels):
    X = frame.to_numpy()
    model = LogisticRegression().fit(X, labels)
    info = save_model(model, tmp_path / "m", input_example=X[:5])
    assert info.signature.inputs == (TensorSpec("float64", (-1, 4)),)
    predictor = load_model(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(predictor.predict(X), model.predict(X))
        np.testing.assert_array_equal(predictor.predict(frame), model.predict(X))
    with pytest.raises(SignatureError, match="dimension 1 is 3, expected 4"):
        predictor.predict(X[:, :3])


def test_frame_model_given_an_array_gets_its_feature_names(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    save_model(model, tmp_path / "m")  # no example, no signature
    predictor = load_model(tmp_path / "m")
    assert predictor.signature is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(predictor.predict(frame.to_numpy()), model.predict(frame))


def test_unfitted_or_unknown_models_are_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="not fitted"):
        save_model(LogisticRegression(), tmp_path / "m")
    with pytest.raises(InvalidArgument, match=r"cannot tell the flavor of a builtins\.dict"):
        save_model({"not": "a model"}, tmp_path / "x")
    with pytest.raises(InvalidArgument, match="unknown model flavor 'torch'"):
        save_model(LogisticRegression(), tmp_path / "y", flavor="torch")


def test_save_into_an_existing_folder_is_refused(tmp_path, frame, labels):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("x")
    with pytest.raises(AlreadyExists, match="not an empty folder"):
        save_model(LogisticRegression().fit(frame, labels), tmp_path / "m")


def test_bad_input_example_is_refused(tmp_path, frame, labels):
    model = LogisticRegression().fit(frame, labels)
    with pytest.raises(InvalidArgument, match="rejects its own input_example"):
        save_model(
            model,
            tmp_path / "m",
            input_example=frame[:5],
            signature=__import__("modelyard").Signature([ColSpec("other", "double")]),
        )
    with pytest.raises(InvalidArgument, match="input_example must be"):
        save_model(model, tmp_path / "n", input_example="nope")
    assert pd.DataFrame  # the frame fixture stays pandas
