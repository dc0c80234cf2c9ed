/* fuzz_client — libFuzzer's entry for a client's connection: the stream
 * starts before HELLO (harness.h says how an input is read). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  harness_run(data, n, false);
  return 0;
}
