//! Element-wise reduction kernels for the collective algorithms: `dst[i] = dst[i] op src[i]`.
//!
//! Written as plain loops over slices so LLVM vectorises them; each kernel is compiled
//! twice (baseline x86-64 and AVX2) and the AVX2 copy is chosen at run time when the CPU
//! has it. Integer `sum`/`prod` wrap around (as MPI's do); float `min`/`max` keep `dst`
//! unless `src` is strictly smaller/larger (the TypeScript reference does the same).

use crate::error::{guard, Error};

/// Element type indices (the `index` of `lib/collective/dtype.ts`).
const F32: u32 = 0;
const F64: u32 = 1;
const I8: u32 = 2;
const I16: u32 = 3;
const I32: u32 = 4;
const I64: u32 = 5;
const U8: u32 = 6;
const U16: u32 = 7;
const U32: u32 = 8;
const U64: u32 = 9;

/// Op indices (the `index` of `lib/collective/ops.ts`).
const SUM: u32 = 0;
const PROD: u32 = 1;
const MIN: u32 = 2;
const MAX: u32 = 3;
const BAND: u32 = 4;
const BOR: u32 = 5;
const BXOR: u32 = 6;

macro_rules! kernel {
    ($name:ident, $t:ty, |$a:ident, $b:ident| $e:expr) => {
        #[inline(always)]
        fn $name(dst: &mut [$t], src: &[$t]) {
            for (d, s) in dst.iter_mut().zip(src) {
                let ($a, $b) = (*d, *s);
                *d = $e;
            }
        }
    };
}

macro_rules! int_kernels {
    ($t:ty, $sum:ident, $prod:ident, $min:ident, $max:ident, $and:ident, $or:ident, $xor:ident) => {
        kernel!($sum, $t, |a, b| a.wrapping_add(b));
        kernel!($prod, $t, |a, b| a.wrapping_mul(b));
        kernel!($min, $t, |a, b| if b < a { b } else { a });
        kernel!($max, $t, |a, b| if b > a { b } else { a });
        kernel!($and, $t, |a, b| a & b);
        kernel!($or, $t, |a, b| a | b);
        kernel!($xor, $t, |a, b| a ^ b);
    };
}

macro_rules! float_kernels {
    ($t:ty, $sum:ident, $prod:ident, $min:ident, $max:ident) => {
        kernel!($sum, $t, |a, b| a + b);
        kernel!($prod, $t, |a, b| a * b);
        kernel!($min, $t, |a, b| if b < a { b } else { a });
        kernel!($max, $t, |a, b| if b > a { b } else { a });
    };
}

float_kernels!(f32, f32_sum, f32_prod, f32_min, f32_max);
float_kernels!(f64, f64_sum, f64_prod, f64_min, f64_max);
int_kernels!(i8, i8_sum, i8_prod, i8_min, i8_max, i8_and, i8_or, i8_xor);
int_kernels!(i16, i16_sum, i16_prod, i16_min, i16_max, i16_and, i16_or, i16_xor);
int_kernels!(i32, i32_sum, i32_prod, i32_min, i32_max, i32_and, i32_or, i32_xor);
int_kernels!(i64, i64_sum, i64_prod, i64_min, i64_max, i64_and, i64_or, i64_xor);
int_kernels!(u8, u8_sum, u8_prod, u8_min, u8_max, u8_and, u8_or, u8_xor);
int_kernels!(u16, u16_sum, u16_prod, u16_min, u16_max, u16_and, u16_or, u16_xor);
int_kernels!(u32, u32_sum, u32_prod, u32_min, u32_max, u32_and, u32_or, u32_xor);
int_kernels!(u64, u64_sum, u64_prod, u64_min, u64_max, u64_and, u64_or, u64_xor);

/// Views `count` elements at `dst`/`src` as slices of `T` and applies `f`.
///
/// # Safety
/// `dst` and `src` must be valid, `T`-aligned and hold `count` elements each; `dst` must
/// not overlap `src`.
#[inline(always)]
unsafe fn apply<T>(dst: *mut u8, src: *const u8, count: usize, f: fn(&mut [T], &[T])) {
    // SAFETY: guaranteed by the caller (checked in `dispatch_checked`).
    let (d, s) = unsafe {
        (
            std::slice::from_raw_parts_mut(dst as *mut T, count),
            std::slice::from_raw_parts(src as *const T, count),
        )
    };
    f(d, s)
}

/// Selects and runs the kernel; returns false for an unknown type/op pair.
///
/// # Safety
/// As for [`apply`], with `T` the element type named by `dtype`.
#[inline(always)]
unsafe fn dispatch(dtype: u32, op: u32, dst: *mut u8, src: *const u8, n: usize) -> bool {
    macro_rules! run {
        ($t:ty, $f:ident) => {
            // SAFETY: forwarded from the caller.
            unsafe { apply::<$t>(dst, src, n, $f) }
        };
    }
    macro_rules! ints {
        ($t:ty, $sum:ident, $prod:ident, $min:ident, $max:ident, $and:ident, $or:ident, $xor:ident) => {
            match op {
                SUM => run!($t, $sum),
                PROD => run!($t, $prod),
                MIN => run!($t, $min),
                MAX => run!($t, $max),
                BAND => run!($t, $and),
                BOR => run!($t, $or),
                BXOR => run!($t, $xor),
                _ => return false,
            }
        };
    }
    match dtype {
        F32 => match op {
            SUM => run!(f32, f32_sum),
            PROD => run!(f32, f32_prod),
            MIN => run!(f32, f32_min),
            MAX => run!(f32, f32_max),
            _ => return false,
        },
        F64 => match op {
            SUM => run!(f64, f64_sum),
            PROD => run!(f64, f64_prod),
            MIN => run!(f64, f64_min),
            MAX => run!(f64, f64_max),
            _ => return false,
        },
        I8 => ints!(i8, i8_sum, i8_prod, i8_min, i8_max, i8_and, i8_or, i8_xor),
        I16 => ints!(i16, i16_sum, i16_prod, i16_min, i16_max, i16_and, i16_or, i16_xor),
        I32 => ints!(i32, i32_sum, i32_prod, i32_min, i32_max, i32_and, i32_or, i32_xor),
        I64 => ints!(i64, i64_sum, i64_prod, i64_min, i64_max, i64_and, i64_or, i64_xor),
        U8 => ints!(u8, u8_sum, u8_prod, u8_min, u8_max, u8_and, u8_or, u8_xor),
        U16 => ints!(u16, u16_sum, u16_prod, u16_min, u16_max, u16_and, u16_or, u16_xor),
        U32 => ints!(u32, u32_sum, u32_prod, u32_min, u32_max, u32_and, u32_or, u32_xor),
        U64 => ints!(u64, u64_sum, u64_prod, u64_min, u64_max, u64_and, u64_or, u64_xor),
        _ => return false,
    }
    true
}

/// The AVX2 build of [`dispatch`].
///
/// # Safety
/// As for [`dispatch`]; the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dispatch_avx2(dtype: u32, op: u32, dst: *mut u8, src: *const u8, n: usize) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { dispatch(dtype, op, dst, src, n) }
}

fn elem_size(dtype: u32) -> Option<usize> {
    Some(match dtype {
        I8 | U8 => 1,
        I16 | U16 => 2,
        F32 | I32 | U32 => 4,
        F64 | I64 | U64 => 8,
        _ => return None,
    })
}

/// `dst[i] = dst[i] op src[i]` for `count` elements of type `dtype` (indices as in
/// `lib/collective/dtype.ts` / `ops.ts`). Returns 0, or -EINVAL for an unknown or
/// meaningless type/op pair (e.g. a bitwise op on floats), a null or misaligned pointer,
/// or overlapping buffers.
#[no_mangle]
pub extern "C" fn pluvio_reduce(
    dtype: u32,
    op: u32,
    dst: *mut u8,
    src: *const u8,
    count: u32,
) -> i32 {
    guard(|| {
        let size = elem_size(dtype)
            .ok_or_else(|| Error::errno(libc::EINVAL, format!("unknown element type {dtype}")))?;
        let n = count as usize;
        if n == 0 {
            return Ok(0);
        }
        if dst.is_null() || src.is_null() {
            return Err(Error::errno(libc::EINVAL, "null buffer".into()));
        }
        if !(dst as usize).is_multiple_of(size) || !(src as usize).is_multiple_of(size) {
            return Err(Error::errno(
                libc::EINVAL,
                format!("buffers not aligned to {size} bytes"),
            ));
        }
        let bytes = n * size;
        let (d, s) = (dst as usize, src as usize);
        if d < s + bytes && s < d + bytes {
            return Err(Error::errno(libc::EINVAL, "dst and src overlap".into()));
        }
        #[cfg(target_arch = "x86_64")]
        let ok = if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: pointers checked non-null, aligned and disjoint above; the caller
            // (TypeScript) passes buffers of `count` elements; AVX2 was detected.
            unsafe { dispatch_avx2(dtype, op, dst, src, n) }
        } else {
            // SAFETY: as above, baseline instructions only.
            unsafe { dispatch(dtype, op, dst, src, n) }
        };
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: as above.
        let ok = unsafe { dispatch(dtype, op, dst, src, n) };
        if ok {
            Ok(0)
        } else {
            Err(Error::errno(
                libc::EINVAL,
                format!("op {op} is not defined for element type {dtype}"),
            ))
        }
    })
}
