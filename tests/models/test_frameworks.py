"""XGBoost, LightGBM and ONNX flavors: native formats, round trips and signatures."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.errors import InvalidArgument, InvalidState
from modelyard.models import SignatureError, TensorSpec, load_model, log_model, save_model

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


def test_xgboost_classifier_round_trip(local_client, run_id, frame, labels):
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, nthread=1).fit(frame, labels)
    info = log_model(model, "xgb", input_example=frame[:5], run_id=run_id, client=local_client)
    assert (info.flavor, info.serialization, info.files) == ("xgboost", "json", ("model.json",))
    assert info.manifest.options == {"model_class": "XGBClassifier"}
    predictor = load_model(info.uri, client=local_client)
    assert isinstance(predictor.raw, xgb.XGBClassifier)
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
    np.testing.assert_allclose(predictor.predict_proba(frame), model.predict_proba(frame))
    np.testing.assert_array_equal(
        predictor.predict(frame[:2].to_dict("records")), model.predict(frame[:2])
    )
    with pytest.raises(SignatureError, match="'income' is string"):
        predictor.predict(frame.assign(income="x"))


def test_xgboost_regressor_ubj_and_booster(tmp_path, frame):
    target = frame["income"] * 2.0
    model = xgb.XGBRegressor(n_estimators=10, max_depth=3, nthread=1).fit(frame, target)
    save_model(model, tmp_path / "reg", input_example=frame[:5], serialization="ubj")
    predictor = load_model(tmp_path / "reg")
    assert predictor.manifest.serialization == "ubj" and not predictor.manifest.has_predict_proba
    np.testing.assert_allclose(predictor.predict(frame), model.predict(frame))
    with pytest.raises(InvalidState, match="no predict_proba"):
        predictor.predict_proba(frame)

    X = frame.to_numpy()
    booster = xgb.train(
        {"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=target), num_boost_round=5
    )
    info = save_model(booster, tmp_path / "booster", input_example=X[:5])
    assert info.signature.inputs == (TensorSpec("float64", (-1, 4)),)
    loaded = load_model(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(X), booster.inplace_predict(X))
    with pytest.raises(InvalidArgument, match="not 'pickle'"):
        save_model(model, tmp_path / "bad", serialization="pickle")


def test_lightgbm_classifier_multiclass_round_trip(local_client, run_id, frame):
    classes = np.array(["low", "mid", "high"])[(frame["age"].rank(pct=True) * 2.99).astype(int)]
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, n_jobs=1, verbose=-1)
    model.fit(frame, classes)
    info = log_model(model, "lgbm", input_example=frame[:5], run_id=run_id, client=local_client)
    assert (info.flavor, info.serialization, info.files) == ("lightgbm", "text", ("model.txt",))
    assert info.manifest.options["classes"] == ["high", "low", "mid"]
    assert info.signature.outputs == (TensorSpec("str", (-1,)),)
    predictor = load_model(info.uri, client=local_client)
    assert isinstance(predictor.raw, lgb.Booster)
    np.testing.assert_array_equal(predictor.predict(frame), model.predict(frame))
    np.testing.assert_allclose(predictor.predict_proba(frame), model.predict_proba(frame))


def test_lightgbm_binary_regressor_and_booster(tmp_path, frame, labels):
    clf = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, n_jobs=1, verbose=-1)
    clf.fit(frame, labels)
    save_model(clf, tmp_path / "clf", input_example=frame[:5])
    predictor = load_model(tmp_path / "clf")
    np.testing.assert_array_equal(predictor.predict(frame), clf.predict(frame))
    np.testing.assert_allclose(predictor.predict_proba(frame), clf.predict_proba(frame))

    reg = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, n_jobs=1, verbose=-1)
    reg.fit(frame, frame["income"])
    save_model(reg, tmp_path / "reg", input_example=frame[:5])
    np.testing.assert_allclose(load_model(tmp_path / "reg").predict(frame), reg.predict(frame))

    X = frame.to_numpy()
    booster = lgb.train(
        {"num_leaves": 7, "num_threads": 1, "verbose": -1},
        lgb.Dataset(X, label=frame["income"].to_numpy()),
        num_boost_round=5,
    )
    save_model(booster, tmp_path / "booster", input_example=X[:5])
    np.testing.assert_allclose(load_model(tmp_path / "booster").predict(X), booster.predict(X))
    with pytest.raises(InvalidArgument, match="not fitted"):
        save_model(lgb.LGBMRegressor(), tmp_path / "unfitted")


def _onnx_classifier(frame, labels):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame, labels)
    onx = to_onnx(
        model,
        initial_types=[("X", FloatTensorType([None, 4]))],
        options={id(model): {"zipmap": False}},
    )
    return model, onx


def test_onnx_model_proto_signature_comes_from_the_graph(local_client, run_id, frame, labels):
    model, onx = _onnx_classifier(frame, labels)
    info = log_model(onx, "onnx", run_id=run_id, client=local_client)
    assert (info.flavor, info.serialization, info.files) == ("onnx", "onnx", ("model.onnx",))
    assert info.signature.inputs == (TensorSpec("float32", (-1, 4), "X"),)
    assert [o.name for o in info.signature.outputs] == ["label", "probabilities"]
    predictor = load_model(info.uri, client=local_client)
    X = frame.to_numpy(dtype="float32")
    np.testing.assert_array_equal(predictor.predict(X), model.predict(frame))
    np.testing.assert_allclose(predictor.predict_proba(X), model.predict_proba(frame), atol=1e-5)
    with pytest.raises(SignatureError, match="float64 cannot be safely converted to float32"):
        predictor.predict(frame.to_numpy())


def test_onnx_file_path_with_a_frame_example(tmp_path, frame, labels):
    model, onx = _onnx_classifier(frame, labels)
    path = tmp_path / "clf.onnx"
    path.write_bytes(onx.SerializeToString())
    small = frame.astype("float32")
    info = save_model(str(path), tmp_path / "m", input_example=small[:5])
    assert info.signature.inputs[0].type == "float"
    predictor = load_model(tmp_path / "m")
    np.testing.assert_array_equal(predictor.predict(small), model.predict(frame))
    with pytest.raises(InvalidArgument, match="does not exist"):
        save_model(str(tmp_path / "missing.onnx"), tmp_path / "n")
