//! `sipwasm:router/sdpops`: SDP operations on the SIP message's body.

use crate::bindings::sipwasm::router::sdpops::{Codec, Error, Host};
use crate::state::HostState;
use sipwasm_routing::RouteContext;
use sipwasm_routing::sdpops::SdpError;

fn sdp_error(e: SdpError) -> Error {
    match e {
        SdpError::NoSdp => Error::NoSdp,
        SdpError::InvalidSdp(m) => Error::InvalidSdp(m),
        SdpError::InvalidArgument(m) => Error::InvalidArgument(m),
        SdpError::NoMessage => Error::NoMessage,
    }
}

impl HostState {
    fn with_sdp<T>(
        &mut self,
        f: impl FnOnce(&mut RouteContext) -> Result<T, SdpError>,
    ) -> Result<T, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoMessage)?;
        f(ctx).map_err(sdp_error)
    }
}

impl Host for HostState {
    fn sdp_content(&mut self) -> bool {
        self.sip().is_some_and(RouteContext::sdp_content)
    }

    fn with_media(&mut self, media: String) -> Result<bool, Error> {
        self.with_sdp(|c| c.sdp_with_media(&media))
    }

    fn with_codecs_by_name(&mut self, names: String) -> Result<bool, Error> {
        self.with_sdp(|c| c.sdp_with_codecs_by_name(&names))
    }

    fn with_codecs_by_id(&mut self, ids: String) -> Result<bool, Error> {
        self.with_sdp(|c| c.sdp_with_codecs_by_id(&ids))
    }

    fn list_codecs(&mut self) -> Result<Vec<Codec>, Error> {
        self.with_sdp(|c| c.sdp_codecs()).map(|codecs| {
            codecs
                .into_iter()
                .map(|c| Codec {
                    media: c.media,
                    id: c.id,
                    name: c.name,
                    clock_rate: c.clock_rate,
                })
                .collect()
        })
    }

    fn remove_codecs_by_name(&mut self, names: String) -> Result<u32, Error> {
        self.with_sdp(|c| c.sdp_remove_codecs_by_name(&names))
    }

    fn remove_codecs_by_id(&mut self, ids: String) -> Result<u32, Error> {
        self.with_sdp(|c| c.sdp_remove_codecs_by_id(&ids))
    }

    fn keep_codecs_by_name(&mut self, names: String, media: String) -> Result<u32, Error> {
        self.with_sdp(|c| c.sdp_keep_codecs_by_name(&names, &media))
    }

    fn keep_codecs_by_id(&mut self, ids: String, media: String) -> Result<u32, Error> {
        self.with_sdp(|c| c.sdp_keep_codecs_by_id(&ids, &media))
    }

    fn remove_media(&mut self, media: String) -> Result<u32, Error> {
        self.with_sdp(|c| c.sdp_remove_media(&media))
    }

    fn set_connection_address(&mut self, ip: String) -> Result<u32, Error> {
        self.with_sdp(|c| c.sdp_set_connection_address(&ip))
    }

    fn set_origin_address(&mut self, ip: String) -> Result<bool, Error> {
        self.with_sdp(|c| c.sdp_set_origin_address(&ip))
    }
}
