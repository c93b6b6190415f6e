//! The Windows socket traits of the types of this module (where Unix has the descriptor
//! traits), and aio's [`AsSource`](corio_aio::AsSource) so they can be passed to ops.

/// `AsSocket`, `AsRawSocket`, `IntoRawSocket`, `FromRawSocket`, the `OwnedSocket`
/// conversions, `AsSource` and the std conversions of a type with fields `inner` (the std
/// type) and `state` (`Arc<State>`).
macro_rules! socket_common {
    ($ty:ident, $std:ty) => {
        impl std::os::windows::io::AsSocket for $ty {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                self.inner.as_socket()
            }
        }
        impl std::os::windows::io::AsRawSocket for $ty {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                self.inner.as_raw_socket()
            }
        }
        impl std::os::windows::io::IntoRawSocket for $ty {
            fn into_raw_socket(self) -> std::os::windows::io::RawSocket {
                self.inner.into_raw_socket()
            }
        }
        impl std::os::windows::io::FromRawSocket for $ty {
            /// # Safety
            ///
            /// As for the std type: `sock` must be an open socket of the right kind that the
            /// caller owns.
            unsafe fn from_raw_socket(sock: std::os::windows::io::RawSocket) -> Self {
                // SAFETY: forwarded to the caller's promise (see above).
                <$ty>::from(unsafe { <$std>::from_raw_socket(sock) })
            }
        }
        impl From<std::os::windows::io::OwnedSocket> for $ty {
            fn from(sock: std::os::windows::io::OwnedSocket) -> Self {
                <$ty>::from(<$std>::from(sock))
            }
        }
        impl From<$ty> for std::os::windows::io::OwnedSocket {
            fn from(s: $ty) -> Self {
                s.inner.into()
            }
        }
        impl corio_aio::AsSource for $ty {
            fn as_source(&self) -> corio_aio::BorrowedSource<'_> {
                self.inner.as_source()
            }
        }
        $crate::net::std_conversions!($ty, $std);
    };
}

pub(crate) use socket_common;
