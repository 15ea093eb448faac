//! Sends one encoded request to its endpoint by the endpoint's protocol.
//! The gRPC runtime is only started by the first gRPC request.

use std::time::Duration;

use super::delivery::Delivery;
#[cfg(feature = "grpc")]
use super::grpc::GrpcSender;
use super::http::HttpSender;
use super::otlp_config::Endpoint;
use super::protocol::{Protocol, Signal};

#[derive(Default)]
pub struct Sender {
    http: Option<HttpSender>,
    #[cfg(feature = "grpc")]
    grpc: Option<GrpcSender>,
}

impl Sender {
    pub fn new() -> Sender {
        Sender::default()
    }

    pub fn send(
        &mut self,
        ep: &Endpoint,
        signal: Signal,
        body: &[u8],
        timeout: Duration,
    ) -> Delivery {
        if timeout.is_zero() {
            return Delivery::Retry("no time left before the export deadline".into());
        }
        match ep.protocol {
            Protocol::HttpProtobuf => self
                .http
                .get_or_insert_with(HttpSender::new)
                .send(ep, signal, body, timeout),
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                if self.grpc.is_none() {
                    match GrpcSender::new() {
                        Ok(g) => self.grpc = Some(g),
                        Err(e) => return Delivery::Retry(e.to_string()),
                    }
                }
                let grpc = self.grpc.as_mut().expect("set above");
                grpc.send(ep, signal, body, timeout)
            }
            #[cfg(not(feature = "grpc"))]
            Protocol::Grpc => Delivery::Retry("this build has no gRPC".into()),
        }
    }
}
