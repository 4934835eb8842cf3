/* Without clang's fuzzer, a fuzz target builds with this main: it replays every file of the
 * corpus folders given, plus inputs too large to keep as fixtures, as an ordinary test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 1;
}

int
main(int argc, char **argv)
{
    int files = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[a]);
            return 2;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            files += replay_file(path);
        }
        closedir(d);
    }
    /* Generated: an overlong line, and every single-byte input. */
    size_t n = 70000;
    uint8_t *big = malloc(n + 16);
    memcpy(big, "1,2,3\n", 6);
    memset(big + 6, 'x', n);
    memcpy(big + 6 + n, ",2,3\n", 5);
    LLVMFuzzerTestOneInput(big, n + 11);
    free(big);
    for (int b = 0; b < 256; b++) {
        uint8_t one = (uint8_t)b;
        LLVMFuzzerTestOneInput(&one, 1);
    }
    printf("replay: %d corpus files and 257 generated inputs, no failure\n", files);
    return files > 0 ? 0 : 1;
}
