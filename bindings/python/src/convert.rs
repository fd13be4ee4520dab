//! Plain Python data <-> JSON values, so that the core's serde types cross the boundary without
//! a hand-written class per struct: a spec is built from keyword arguments as a JSON object and
//! deserialized; a result is serialized and handed over as dicts, lists, strings and numbers.

use crate::errors;
use provisio::{Bytes, Error, SecretString};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

/// Serializes a core value.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> provisio::Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::unexpected(format!("cannot serialize a result: {e}")))
}

/// Deserializes a core value from JSON built out of Python arguments; `InvalidInputError`
/// naming `what` when it does not fit.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    py: Python<'_>,
    what: &str,
    value: Value,
) -> PyResult<T> {
    serde_json::from_value(value)
        .map_err(|e| errors::to_py(py, &Error::invalid_input(format!("invalid {what}: {e}"))))
}

/// A JSON value as Python data.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Python data as a JSON value: `None`, `bool`, `int`, `float`, `str`, `os.PathLike` (as its
/// path), lists, tuples and dicts with string keys.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<u64>()?));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("{x} cannot be represented in JSON")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("dict keys must be str, not {}", type_name(&k)))
            })?;
            map.insert(key.to_cow()?.into_owned(), from_py(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for item in obj.try_iter()? {
            out.push(from_py(&item?)?);
        }
        return Ok(Value::Array(out));
    }
    if obj.hasattr("reveal")? {
        return Err(PyTypeError::new_err(
            "a provisio.Secret cannot be used here: secret values go only where a secret is expected",
        ));
    }
    if obj.hasattr("__fspath__")? {
        let path = obj.call_method0("__fspath__")?;
        return from_py(&path);
    }
    Err(PyTypeError::new_err(format!(
        "{} cannot be converted to provisio data (use dict, list, str, int, float, bool or None)",
        type_name(obj)
    )))
}

/// An optional Python value as JSON (`None` when absent).
pub(crate) fn opt_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    obj.map_or(Ok(Value::Null), from_py)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A secret argument: a `str` or a `provisio.Secret`.
pub(crate) fn secret_from_py(obj: &Bound<'_, PyAny>) -> PyResult<SecretString> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(SecretString::new(s.to_cow()?));
    }
    if obj.hasattr("reveal")? {
        return Ok(SecretString::new(
            obj.call_method0("reveal")?.extract::<String>()?,
        ));
    }
    Err(PyTypeError::new_err(format!(
        "expected a str or provisio.Secret, not {}",
        type_name(obj)
    )))
}

/// A `provisio.Secret` holding `value`.
pub(crate) fn secret_to_py<'py>(
    py: Python<'py>,
    value: &SecretString,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("provisio._support")?
        .getattr("Secret")?
        .call1((value.expose(),))
}

/// Body bytes: `bytes`, `bytearray`, `memoryview` or `str` (encoded as UTF-8).
pub(crate) fn bytes_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Bytes::from(s.to_cow()?.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::from(b.as_bytes().to_vec()));
    }
    let v: Vec<u8> = obj
        .call_method0("__bytes__")
        .or_else(|_| obj.py().import("builtins")?.getattr("bytes")?.call1((obj,)))
        .and_then(|b| b.extract())
        .map_err(|_| {
            PyTypeError::new_err(format!("expected bytes or str, not {}", type_name(obj)))
        })?;
    Ok(Bytes::from(v))
}

/// Bytes as Python `bytes`.
pub(crate) fn bytes_to_py<'py>(py: Python<'py>, body: &[u8]) -> Bound<'py, PyAny> {
    PyBytes::new(py, body).into_any()
}

/// Seconds (float) as a duration.
pub(crate) fn seconds(py: Python<'_>, field: &str, secs: f64) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| {
        errors::to_py(
            py,
            &Error::invalid_field(field, format!("{secs} is not a duration in seconds")),
        )
    })
}
