/* dlopen.c: pawpipe-dlopen NAME...: load each shared library NAME the way a program's dlopen() does
 * (the dynamic loader's search: ld.so.cache, LD_LIBRARY_PATH, the default folders), binding every
 * symbol at once (RTLD_NOW); print "ok NAME PATH" or "missing NAME: reason" per name. Exit status:
 * the number of names that failed (at most 100). Used by pawpipe-gpu-libcheck (docker/gpu-libcheck)
 * in the GPU image, for the libraries that cuDNN and cuBLAS open by name at run time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>

int main(int argc, char **argv) {
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            printf("missing %s: %s\n", argv[i], e ? e : "unknown error");
            failed++;
            continue;
        }
        struct link_map *map = NULL;
        if (dlinfo(h, RTLD_DI_LINKMAP, &map) == 0 && map)
            printf("ok %s %s\n", argv[i], map->l_name);
        else
            printf("ok %s\n", argv[i]);
        dlclose(h);
    }
    return failed > 100 ? 100 : failed;
}
