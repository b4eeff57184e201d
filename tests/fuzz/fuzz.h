/* fuzz.h - the libFuzzer entry point every harness defines. */
#ifndef MQE2E_FUZZ_H
#define MQE2E_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
