/* classify_image.c - load the flagship's saved model and classify image files.

   cc -O2 examples/classify_image.c -o classify_image -lm
   ./classify_image build/fashion_mnist.nnw examples/images/[0-9]_*.png

   What it teaches: a model file is all a program needs. It rebuilds the network
   (nn_model_init_from_memory_batch, sized for one image), brings back the
   preprocessing fitted in training (nn_prep_from_memory) and says where the model
   came from (nn_meta_from_memory); images are
   decoded and resized through stb_image (included before nn.h, which is what turns
   nn.h's image functions on), converted exactly as in training, and classified in
   EVAL mode. Train the model first: `make demo` (or ./fashion_mnist) writes it.
   Fashion-MNIST images are light garments on a black background, 28 x 28 gray;
   other images are resized and converted to gray, but a photo on a white background
   is not what this model has seen. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

int main(int argc, char **argv) {
    nn_arena arena;
    nn_model net;
    nn_prep prep;
    nn_meta meta;
    nn_image_desc id = nn_image_desc_default(28, 28, 1);
    size_t bytes = 0, file_len = 0;
    void *file = NULL;
    float table[256];
    char text[1024], err[NN_ERROR_MAX];
    int i, bad = 0;
    nn_result r;

    if (argc < 3) {
        fprintf(stderr, "usage: classify_image model.nnw image.png [more images]\n");
        return 2;
    }
    /* The file once into memory; from it the model (sized for one image at a
       time), its preprocessing and its provenance. */
    r = nn_read_file(&file, &file_len, argv[1], (size_t)1 << 30);
    if (r == NN_OK) r = nn_model_arena_bytes_from_memory(&bytes, file, file_len, 1);
    if (r != NN_OK) {
        fprintf(stderr, "error: %s: %s (train it first: make demo)\n", argv[1], nn_result_string(r));
        return 1;
    }
    if (nn_arena_init_heap(&arena, bytes + (1 << 20)) != NN_OK) return 1;
    memset(&net, 0, sizeof net);
    memset(&prep, 0, sizeof prep);
    if ((r = nn_model_init_from_memory_batch(&net, &arena, file, file_len, 1)) != NN_OK ||
        (r = nn_prep_from_memory(&prep, &arena, file, file_len)) != NN_OK ||
        (r = nn_meta_from_memory(&meta, file, file_len)) != NN_OK) {
        fprintf(stderr, "error: %s: %s %s%s\n", argv[1], nn_result_string(r), net.error, prep.error);
        return 1;
    }
    nn_free(file);
    if (net.inputs != 784 || net.outputs != 10 || (prep.in && (prep.in != 784 || prep.out != 784))) {
        fprintf(stderr, "error: %s is not a 28 x 28 gray, 10-class model\n", argv[1]);
        return 1;
    }
    nn_model_set_mode(&net, NN_MODE_EVAL);
    nn_meta_describe(&meta, text, sizeof text);
    printf("model %s\n%s\n", argv[1], text);

    /* Bytes to [0, 1] as in training; then the saved standardization. */
    nn_u8_table_normalize(table, 255.0f, 0.0f, 1.0f);
    for (i = 2; i < argc; i++) {
        unsigned char px[784];
        float x[784], xin[784], p[10], mx, sum = 0.0f;
        int order[10], j, k, row = 0;
        nn_tensor y;
        nn_data one;
        r = nn_image_load(px, &id, argv[i], err);
        if (r != NN_OK) {
            printf("%-32s error: %s\n", argv[i], err);
            bad = 1;
            continue;
        }
        memset(&one, 0, sizeof one);
        one.n = 1; one.features = 784; one.x_u8 = px; one.table = table;
        nn_data_gather(&one, &row, 1, x, NULL, NULL);
        if (prep.in) nn_prep_apply(&prep, nn_tensor_2d(xin, 1, 784), nn_tensor_2d(x, 1, 784));
        y = nn_model_forward(&net, nn_tensor_2d(prep.in ? xin : x, 1, 784));
        /* softmax of the logits, for a readable confidence */
        mx = y.data[0];
        for (j = 1; j < 10; j++) mx = y.data[j] > mx ? y.data[j] : mx;
        for (j = 0; j < 10; j++) sum += p[j] = expf(y.data[j] - mx);
        for (j = 0; j < 10; j++) {
            p[j] /= sum;
            order[j] = j;
        }
        for (j = 0; j < 3; j++) /* the top three by selection */
            for (k = j + 1; k < 10; k++)
                if (p[order[k]] > p[order[j]]) {
                    int t = order[j];
                    order[j] = order[k];
                    order[k] = t;
                }
        printf("%-32s %-11s %5.1f%%   (then %s %.1f%%, %s %.1f%%)\n", argv[i], class_names[order[0]],
               100.0 * p[order[0]], class_names[order[1]], 100.0 * p[order[1]], class_names[order[2]],
               100.0 * p[order[2]]);
    }
    nn_arena_deinit(&arena);
    return bad;
}
