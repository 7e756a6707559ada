/* The replay main of the fuzz targets built with -DFUZZ_STANDALONE (any
   compiler, no libFuzzer): every file named on the command line goes through
   LLVMFuzzerTestOneInput and its checks. Include it after that function and
   FZ_CHECK. before (or NULL) runs ahead of each file, after (or NULL: "ok
   path") once it passed; a failing input aborts inside, so the closing line
   is only reached when all passed (it is for tests/run_one.sh). */
static int fz_replay(int argc, char **argv, void (*before)(void), void (*after)(const char *path)) {
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *buf;
        long n;
        if (!f) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = (unsigned char *)malloc(n > 0 ? (size_t)n : 1);
        FZ_CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
        if (before) before();
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        if (after) after(argv[i]);
        else printf("ok %s\n", argv[i]);
    }
    printf("%d passed, 0 failed\n", argc - 1);
    return argc > 1 ? 0 : 1;
}
