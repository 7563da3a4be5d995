/* bcryptprimitives.dll for wine 8, which lacks it: Rust's standard library
 * on Windows draws its random bytes from ProcessPrng (Windows 10+). This one
 * export forwards to advapi32's RtlGenRandom (SystemFunction036), which
 * wine has. Test-only: it never ships in a wheel. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
