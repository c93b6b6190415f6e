/* A stand-in for Windows' bcryptprimitives.dll, which wine 8.0 (Debian 12) lacks.
 *
 * Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll for its random
 * numbers (HashMap seeds); without that DLL every Rust program fails to start under wine 8.0.
 * ProcessPrng fills a buffer with random bytes and never fails; here it forwards to
 * RtlGenRandom (advapi32's SystemFunction036), which takes a ULONG length, hence the chunks. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > (1u << 30) ? (1u << 30) : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
