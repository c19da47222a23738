/*
 * fuzz_config.c - libFuzzer target for the configuration loader
 * (config_load): the input is the YAML file.
 */
#include <stdlib.h>

#include "config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("reportd.yaml", data, size);
    struct config c;
    struct diag d;

    diag_init(&d);
    if (config_load(&c, path, &d) == 0)
        config_free(&c);
    else if (d.count == 0)
        abort(); /* refused without saying why */
    diag_free(&d);
    return 0;
}
