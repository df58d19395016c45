//! blst's calling conventions in one place: results written through an
//! out-pointer, and the point types of G1 and G2, which differ only in the
//! blst functions they call.

/// Calls a blst function that writes its result through an out-pointer and
/// returns that result: blst's calling convention, in one place.
pub(super) fn blst_out<T: Default>(write: impl FnOnce(&mut T)) -> T {
    let mut out = T::default();
    write(&mut out);
    out
}

/// The projective and affine newtypes of one group over blst's points, with
/// what both groups do alike: `Debug` as the compressed point in hex,
/// equality of projective points, the identity, addition, negation, the
/// conversions between the two forms, compression (`$len` bytes) and
/// decoding. The blst functions come in this order: `is_equal`,
/// `add_or_double`, `cneg`, `to_affine`, `from_affine`; `compress`,
/// `uncompress`, `affine_in_g*`, `affine_is_inf`.
macro_rules! point_types {
    (
        $(#[$doc:meta])*
        $proj:ident($raw:ty), $aff:ident($raw_aff:ty), $len:literal bytes;
        $is_equal:ident, $add:ident, $cneg:ident, $to_affine:ident, $from_affine:ident;
        $compress:ident, $uncompress:ident, $in_group:ident, $affine_is_inf:ident;
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        #[repr(transparent)]
        pub struct $proj(pub(super) $raw);

        #[doc = concat!(
            "A point of ", stringify!($proj), " in affine coordinates, as decoding ",
            "produces them: the form multi-scalar multiplication consumes."
        )]
        #[derive(Clone, Copy)]
        #[repr(transparent)]
        pub struct $aff(pub(super) $raw_aff);

        impl std::fmt::Debug for $proj {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(0x{})", stringify!($proj), hex::encode(self.to_compressed()))
            }
        }

        impl std::fmt::Debug for $aff {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let hex = hex::encode(self.to_projective().to_compressed());
                write!(f, "{}(0x{hex})", stringify!($aff))
            }
        }

        impl PartialEq for $proj {
            fn eq(&self, other: &Self) -> bool {
                // SAFETY: both pointers valid.
                unsafe { $is_equal(&self.0, &other.0) }
            }
        }
        impl Eq for $proj {}

        impl $proj {
            /// The point at infinity.
            pub fn identity() -> Self {
                $proj(<$raw>::default())
            }

            /// `self + rhs`.
            pub fn add(&self, rhs: &$proj) -> $proj {
                // SAFETY: all pointers valid.
                $proj($crate::frost::curve::ffi::blst_out(|out| unsafe { $add(out, &self.0, &rhs.0) }))
            }

            /// `-self`.
            pub fn neg(&self) -> $proj {
                let mut out = self.0;
                // SAFETY: valid pointer; blst negates in place.
                unsafe { $cneg(&mut out, true) };
                $proj(out)
            }

            /// Converts to affine coordinates (one field inversion).
            pub fn to_affine(&self) -> $aff {
                // SAFETY: valid pointers.
                $aff($crate::frost::curve::ffi::blst_out(|out| unsafe { $to_affine(out, &self.0) }))
            }

            /// The compressed encoding (identity: `0xc0` followed by zeros).
            pub fn to_compressed(&self) -> [u8; $len] {
                let mut out = [0u8; $len];
                // SAFETY: `out` is `$len` writable bytes.
                unsafe { $compress(out.as_mut_ptr(), &self.0) };
                out
            }
        }

        impl $aff {
            /// Decodes a `$len`-byte compressed point that may be the identity
            /// (encoded as `0xc0` followed by zeros); all other points must be
            /// in the prime-order subgroup.
            pub fn from_compressed_allow_identity(
                bytes: &[u8],
            ) -> Result<$aff, $crate::frost::curve::error::CurveError> {
                use $crate::frost::curve::error::CurveError;
                let arr: &[u8; $len] = bytes
                    .try_into()
                    .map_err(|_| CurveError::PointLength(bytes.len()))?;
                let mut out = <$raw_aff>::default();
                // SAFETY: `arr` is `$len` readable bytes.
                match unsafe { $uncompress(&mut out, arr.as_ptr()) } {
                    ::blst::BLST_ERROR::BLST_SUCCESS => {}
                    ::blst::BLST_ERROR::BLST_POINT_NOT_IN_GROUP => {
                        return Err(CurveError::NotInSubgroup);
                    }
                    _ => return Err(CurveError::PointEncoding),
                }
                let p = $aff(out);
                if p.is_identity() {
                    return Ok(p);
                }
                // SAFETY: valid pointer.
                if !unsafe { $in_group(&out) } {
                    return Err(CurveError::NotInSubgroup);
                }
                Ok(p)
            }

            /// Whether this is the point at infinity.
            pub fn is_identity(&self) -> bool {
                // SAFETY: valid pointer.
                unsafe { $affine_is_inf(&self.0) }
            }

            /// Converts to projective coordinates (no inversion).
            pub fn to_projective(&self) -> $proj {
                // SAFETY: valid pointers.
                $proj($crate::frost::curve::ffi::blst_out(|out| unsafe { $from_affine(out, &self.0) }))
            }
        }
    };
}
