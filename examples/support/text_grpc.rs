//! A gRPC service written by hand for the tonic example and test: `Get` and `Delete` of a
//! context by name, messages as UTF-8 text (a codec of our own instead of protobuf, so
//! nothing is generated and no `protoc` is needed).

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use mcp_bastion::error::BoxError;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Messages are UTF-8 text.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextCodec;

impl Codec for TextCodec {
    type Encode = String;
    type Decode = String;
    type Encoder = TextCodec;
    type Decoder = TextCodec;

    fn encoder(&mut self) -> Self::Encoder {
        TextCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        TextCodec
    }
}

impl Encoder for TextCodec {
    type Item = String;
    type Error = Status;

    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for TextCodec {
    type Item = String;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| Status::invalid_argument("not UTF-8"))
    }
}

pub const GET: &str = "/bastion.test.Contexts/Get";
pub const DELETE: &str = "/bastion.test.Contexts/Delete";

/// `Get` answers `context <name>`, `Delete` answers `deleted <name>`; anything else is
/// `UNIMPLEMENTED`.
#[derive(Debug, Clone, Copy)]
pub struct Contexts;

impl<B> tower::Service<http::Request<B>> for Contexts
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let verb = match request.uri().path() {
                GET => "context",
                DELETE => "deleted",
                _ => return Ok(Status::unimplemented("no such method").into_http()),
            };
            let method = tower::service_fn(move |call: tonic::Request<String>| async move {
                Ok::<_, Status>(tonic::Response::new(format!(
                    "{verb} {}",
                    call.into_inner()
                )))
            });
            Ok(tonic::server::Grpc::new(TextCodec)
                .unary(method, request)
                .await)
        })
    }
}
