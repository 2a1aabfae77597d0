//! The tensors of the Open Inference Protocol that the churn model reads and writes: one-dimensional
//! BYTES and FP64 tensors in, BYTES and FP64 tensors out.
//!
//! A tensor's elements arrive either typed (`contents.bytes_contents`, `contents.fp64_contents`) or raw
//! (`raw_input_contents`, one entry per input): FP64 as little-endian 8-byte floats, BYTES as each
//! element's length in 4 little-endian bytes followed by its bytes (the layout of the specification,
//! <https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_grpc.md>,
//! "Tensor Data", and of tritonclient's `serialize_byte_tensor`). Answers go out raw, as Triton's do, so
//! tritonclient's `InferResult.as_numpy` reads them.
//!
//! Every element count is checked against the tensor's shape, and the shape against the most elements
//! a request may hold, before anything is allocated for the elements; errors name the input (quoted as
//! [`excerpt`] does) and the element.

use crate::error::{ServeError, excerpt, thousands};
use crate::proto::inference::model_infer_request::InferInputTensor;
use crate::proto::inference::model_infer_response::InferOutputTensor;

/// The datatype of a text tensor.
pub const BYTES: &str = "BYTES";

/// The datatype of a tensor of 64-bit floats.
pub const FP64: &str = "FP64";

/// Bytes of the length before each raw BYTES element.
const LENGTH_PREFIX: usize = 4;

/// Bytes of one raw FP64 element.
const FP64_SIZE: usize = 8;

/// The number of elements of `input`, from its shape: `[n]`, or `[n, 1]` (a column, as tabular
/// clients often send), with `n` at most `max_elements`.
pub fn element_count(input: &InferInputTensor, max_elements: usize) -> Result<usize, ServeError> {
    let n = match input.shape.as_slice() {
        [n] | [n, 1] => *n,
        shape => {
            return Err(ServeError::InvalidArgument(format!(
                "input {} has shape {shape:?}; expected [n] (or [n, 1]): one element per customer",
                excerpt(&input.name)
            )));
        }
    };
    let n = usize::try_from(n).map_err(|_| {
        ServeError::InvalidArgument(format!(
            "input {} has a negative dimension ({n})",
            excerpt(&input.name)
        ))
    })?;
    if n > max_elements {
        return Err(ServeError::InvalidArgument(format!(
            "input {} has {} elements; the limit is {} per request",
            excerpt(&input.name),
            thousands(n),
            thousands(max_elements)
        )));
    }
    Ok(n)
}

/// The `n` elements of the BYTES tensor `input`, read from `raw` when the request has raw contents,
/// else from `contents.bytes_contents`; another datatype is refused.
pub fn decode_bytes<'a>(
    input: &'a InferInputTensor,
    raw: Option<&'a [u8]>,
    n: usize,
) -> Result<Vec<&'a [u8]>, ServeError> {
    check_datatype(input, BYTES)?;
    if let Some(raw) = raw {
        return decode_raw_bytes(&input.name, raw, n);
    }
    let values = input.contents.as_ref().map_or(&[][..], |c| &c.bytes_contents[..]);
    check_count(&input.name, "contents.bytes_contents", values.len(), n)?;
    Ok(values.iter().map(Vec::as_slice).collect())
}

/// The `n` elements of the FP64 tensor `input`, read from `raw` when the request has raw contents, else
/// from `contents.fp64_contents`; another datatype is refused.
pub fn decode_fp64(input: &InferInputTensor, raw: Option<&[u8]>, n: usize) -> Result<Vec<f64>, ServeError> {
    check_datatype(input, FP64)?;
    if let Some(raw) = raw {
        return decode_raw_fp64(&input.name, raw, n);
    }
    let values = input.contents.as_ref().map_or(&[][..], |c| &c.fp64_contents[..]);
    check_count(&input.name, "contents.fp64_contents", values.len(), n)?;
    Ok(values.to_vec())
}

/// Refuses `input` unless its datatype is `datatype`.
fn check_datatype(input: &InferInputTensor, datatype: &str) -> Result<(), ServeError> {
    if input.datatype == datatype {
        return Ok(());
    }
    Err(ServeError::InvalidArgument(format!(
        "input {} has datatype {}; it must be {datatype}",
        excerpt(&input.name),
        excerpt(&input.datatype)
    )))
}

/// Refuses `found` elements where the shape says `n`.
fn check_count(name: &str, field: &str, found: usize, n: usize) -> Result<(), ServeError> {
    if found == n {
        return Ok(());
    }
    Err(ServeError::InvalidArgument(format!(
        "input {}: {field} holds {} elements; its shape says {}",
        excerpt(name),
        thousands(found),
        thousands(n)
    )))
}

/// Exactly `n` raw BYTES elements (each a 4-byte little-endian length, then that many bytes) filling
/// `raw`: a length cut short, a length past the end, or bytes left over are refused.
pub fn decode_raw_bytes<'a>(name: &str, raw: &'a [u8], n: usize) -> Result<Vec<&'a [u8]>, ServeError> {
    let invalid =
        |what: String| ServeError::InvalidArgument(format!("input {}: raw contents {what}", excerpt(name)));
    let mut elements = Vec::with_capacity(n.min(raw.len() / LENGTH_PREFIX));
    let mut rest = raw;
    for index in 0..n {
        let Some((prefix, tail)) = rest.split_first_chunk::<LENGTH_PREFIX>() else {
            return Err(invalid(format!(
                "end after {} bytes, inside the 4-byte length of element {index} (the shape says {} elements)",
                thousands(raw.len()),
                thousands(n)
            )));
        };
        let length = u32::from_le_bytes(*prefix) as usize;
        if length > tail.len() {
            return Err(invalid(format!(
                "give element {index} a length of {} bytes, but only {} bytes follow it",
                thousands(length),
                thousands(tail.len())
            )));
        }
        let (element, tail) = tail.split_at(length);
        elements.push(element);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(invalid(format!(
            "hold {} bytes after the {} elements of the input's shape",
            thousands(rest.len()),
            thousands(n)
        )));
    }
    Ok(elements)
}

/// Exactly `n` little-endian FP64 values filling `raw`.
pub fn decode_raw_fp64(name: &str, raw: &[u8], n: usize) -> Result<Vec<f64>, ServeError> {
    if raw.len() != n.saturating_mul(FP64_SIZE) {
        return Err(ServeError::InvalidArgument(format!(
            "input {}: raw contents hold {} bytes; {} FP64 elements take {}",
            excerpt(name),
            thousands(raw.len()),
            thousands(n),
            thousands(n.saturating_mul(FP64_SIZE))
        )));
    }
    Ok(raw
        .chunks_exact(FP64_SIZE)
        .map(|bytes| f64::from_le_bytes(bytes.try_into().expect("chunks of 8 bytes")))
        .collect())
}

/// `element` of input `name` as text; refused when it is not UTF-8.
pub fn utf8<'a>(name: &str, index: usize, element: &'a [u8]) -> Result<&'a str, ServeError> {
    std::str::from_utf8(element).map_err(|_| {
        ServeError::InvalidArgument(format!(
            "input {}: element {index} is not UTF-8 text",
            excerpt(name)
        ))
    })
}

/// An output tensor with its raw contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The tensor's description (name, datatype, shape), without contents.
    pub tensor: InferOutputTensor,
    /// Its elements, raw.
    pub raw: Vec<u8>,
}

/// An FP64 output of shape `[values.len()]`.
pub fn fp64_output(name: &str, values: &[f64]) -> Output {
    let mut raw = Vec::with_capacity(values.len() * FP64_SIZE);
    for value in values {
        raw.extend_from_slice(&value.to_le_bytes());
    }
    Output {
        tensor: output_tensor(name, FP64, vec![values.len()]),
        raw,
    }
}

/// A BYTES output of `shape` holding `elements` in row-major order.
pub fn bytes_output<'a>(
    name: &str,
    shape: Vec<usize>,
    elements: impl IntoIterator<Item = &'a str>,
) -> Output {
    let mut raw = Vec::new();
    for element in elements {
        // An element longer than 4 GiB cannot occur: a message is at most a few MiB.
        let length = u32::try_from(element.len()).unwrap_or(u32::MAX);
        raw.extend_from_slice(&length.to_le_bytes());
        raw.extend_from_slice(element.as_bytes());
    }
    Output {
        tensor: output_tensor(name, BYTES, shape),
        raw,
    }
}

fn output_tensor(name: &str, datatype: &str, shape: Vec<usize>) -> InferOutputTensor {
    InferOutputTensor {
        name: name.to_string(),
        datatype: datatype.to_string(),
        shape: shape.into_iter().map(|d| d as i64).collect(),
        parameters: Default::default(),
        contents: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::inference::InferTensorContents;
    use tonic::Code;

    /// `elements` as raw BYTES contents, as tritonclient's `serialize_byte_tensor` lays them out.
    fn raw_bytes(elements: &[&str]) -> Vec<u8> {
        bytes_output("x", vec![elements.len()], elements.iter().copied()).raw
    }

    fn input(datatype: &str, shape: Vec<i64>, contents: Option<InferTensorContents>) -> InferInputTensor {
        InferInputTensor {
            name: "customer_id".into(),
            datatype: datatype.into(),
            shape,
            parameters: Default::default(),
            contents,
        }
    }

    #[test]
    fn raw_bytes_round_trip_with_little_endian_lengths() {
        let raw = raw_bytes(&["C1", "", "héllo"]);
        assert_eq!(&raw[..6], &[2, 0, 0, 0, b'C', b'1']);
        assert_eq!(&raw[6..10], &[0, 0, 0, 0]);
        assert_eq!(&raw[10..14], &[6, 0, 0, 0]);
        let elements = decode_raw_bytes("x", &raw, 3).expect("valid");
        assert_eq!(elements, vec![&b"C1"[..], b"", "héllo".as_bytes()]);
        assert_eq!(decode_raw_bytes("x", &[], 0).expect("empty"), Vec::<&[u8]>::new());
    }

    #[test]
    fn raw_bytes_with_bad_lengths_are_refused_naming_the_input_and_element() {
        let raw = raw_bytes(&["C1", "C22"]);
        let error = |raw: &[u8], n| {
            let error = decode_raw_bytes("customer_id", raw, n).expect_err("invalid");
            assert_eq!(error.code(), Code::InvalidArgument);
            error.to_string()
        };
        // Cut inside the second length.
        let message = error(&raw[..8], 2);
        assert!(
            message.starts_with("input `customer_id`: raw contents end after 8 bytes"),
            "{message}"
        );
        assert!(message.contains("element 1"), "{message}");
        // A length past the end.
        let mut overlong = raw.clone();
        overlong[6] = 200;
        let message = error(&overlong, 2);
        assert!(
            message.contains("element 1 a length of 200 bytes, but only 3 bytes follow"),
            "{message}"
        );
        // A length near 4 GiB does not allocate.
        let message = error(&[0xff, 0xff, 0xff, 0xff, b'a'], 1);
        assert!(message.contains("4,294,967,295 bytes"), "{message}");
        // More elements than the shape says.
        let message = error(&raw, 1);
        assert!(message.contains("hold 7 bytes after the 1 elements"), "{message}");
        // Fewer.
        let message = error(&raw, 3);
        assert!(message.contains("element 2"), "{message}");
    }

    #[test]
    fn raw_fp64_is_little_endian_and_must_fill_the_shape() {
        let output = fp64_output("p", &[0.25, -1.5]);
        assert_eq!(output.tensor.shape, vec![2]);
        assert_eq!(output.tensor.datatype, FP64);
        assert_eq!(&output.raw[..8], &0.25f64.to_le_bytes());
        assert_eq!(
            decode_raw_fp64("p", &output.raw, 2).expect("valid"),
            vec![0.25, -1.5]
        );
        let error = decode_raw_fp64("p", &output.raw[..15], 2).expect_err("short");
        assert_eq!(
            error.to_string(),
            "input `p`: raw contents hold 15 bytes; 2 FP64 elements take 16"
        );
        assert!(decode_raw_fp64("p", &output.raw, 3).is_err());
    }

    #[test]
    fn shapes_are_a_vector_or_a_column_within_the_limit() {
        assert_eq!(
            element_count(&input(BYTES, vec![3], None), 10).expect("vector"),
            3
        );
        assert_eq!(
            element_count(&input(BYTES, vec![3, 1], None), 10).expect("column"),
            3
        );
        for shape in [vec![], vec![3, 2], vec![1, 1, 1]] {
            let error = element_count(&input(BYTES, shape, None), 10).expect_err("shape");
            assert!(error.to_string().contains("expected [n]"), "{error}");
        }
        let error = element_count(&input(BYTES, vec![-1], None), 10).expect_err("negative");
        assert!(error.to_string().contains("negative"), "{error}");
        let error = element_count(&input(BYTES, vec![11], None), 10).expect_err("too many");
        assert_eq!(
            error.to_string(),
            "input `customer_id` has 11 elements; the limit is 10 per request"
        );
    }

    #[test]
    fn typed_contents_must_match_the_datatype_and_the_shape() {
        let contents = InferTensorContents {
            bytes_contents: vec![b"C1".to_vec(), b"C2".to_vec()],
            ..Default::default()
        };
        let tensor = input(BYTES, vec![2], Some(contents));
        assert_eq!(
            decode_bytes(&tensor, None, 2).expect("valid"),
            vec![&b"C1"[..], b"C2"]
        );
        let error = decode_bytes(&tensor, None, 3).expect_err("count");
        assert_eq!(
            error.to_string(),
            "input `customer_id`: contents.bytes_contents holds 2 elements; its shape says 3"
        );
        let error = decode_fp64(&tensor, None, 2).expect_err("datatype");
        assert_eq!(error.code(), Code::InvalidArgument);
        assert_eq!(
            error.to_string(),
            "input `customer_id` has datatype `BYTES`; it must be FP64"
        );
        let numbers = input(
            FP64,
            vec![1],
            Some(InferTensorContents {
                fp64_contents: vec![2.5],
                ..Default::default()
            }),
        );
        assert_eq!(decode_fp64(&numbers, None, 1).expect("valid"), vec![2.5]);
        let raw = 7.0f64.to_le_bytes();
        assert_eq!(
            decode_fp64(&input(FP64, vec![1], None), Some(&raw), 1).expect("raw"),
            vec![7.0]
        );
    }

    #[test]
    fn text_must_be_utf8() {
        assert_eq!(utf8("x", 0, b"gold").expect("text"), "gold");
        let error = utf8("x", 4, &[0xff, 0xfe]).expect_err("not UTF-8");
        assert_eq!(error.to_string(), "input `x`: element 4 is not UTF-8 text");
    }

    #[test]
    fn bytes_outputs_keep_their_shape() {
        let output = bytes_output("reasons", vec![2, 2], ["a", "", "bc", ""]);
        assert_eq!(output.tensor.shape, vec![2, 2]);
        assert_eq!(output.tensor.datatype, BYTES);
        let elements = decode_raw_bytes("reasons", &output.raw, 4).expect("valid");
        assert_eq!(elements, vec![&b"a"[..], b"", b"bc", b""]);
    }
}
