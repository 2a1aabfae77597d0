//! The protobuf codec of `churn.v1`: prost's, except that a request whose bytes are not a valid message
//! of its type is answered INVALID_ARGUMENT (through [`ServeError::Undecodable`]) rather than prost's
//! INTERNAL: the caller sent it, the server did not fail.

use crate::error::ServeError;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The codec the generated `churn.v1` code uses (see `build.rs`).
#[derive(Debug, Clone, Default)]
pub struct ChurnCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Codec for ChurnCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ChurnDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ChurnDecoder(self.0.decoder())
    }
}

/// prost's decoder, with decoding errors as [`ServeError::Undecodable`].
#[derive(Debug)]
pub struct ChurnDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for ChurnDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0
            .decode(buf)
            .map_err(|status| ServeError::Undecodable(status.message().to_string()).into())
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
