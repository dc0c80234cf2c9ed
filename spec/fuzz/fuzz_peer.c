/* fuzz_peer — libFuzzer's entry for a peer's connection: the stream
 * starts after member 1's handshake, where peer-only ops are served
 * (harness.h says how an input is read). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  harness_run(data, n, true);
  return 0;
}
