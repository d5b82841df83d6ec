/* kernels/weight_prep.h for the CPU kernels: rowops (dtypes, dequantization), quantize_row, pack_x16. */
#include "kernels/weight_prep.h"

#include "kernels/cpu/pack_x16.h"
#include "kernels/cpu/quantize_row.h"
#include "kernels/cpu/rowops.h"

int weight_prep_dtype_supported(loom_dtype t) { return cpu_weight_dtype_supported(t); }
int weight_prep_has_kernels(loom_dtype t) { return cpu_dtype_has_kernels(t); }
void weight_prep_dequant_row(loom_dtype t, const void *row, float *dst, int64_t n) { dequant_row(t, row, dst, n); }
int weight_prep_can_quantize_to(loom_dtype t) { return can_quantize_to(t); }
void weight_prep_quantize_row(loom_dtype t, const float *x, void *dst, int64_t n) { quantize_row(t, x, dst, n); }
int weight_prep_packable(const loom_tensor *t) { return x16_packable(t); }
size_t weight_prep_packed_bytes(loom_dtype t, int64_t n_rows, int64_t row_len) {
    return x16_matrix_bytes(t, n_rows, row_len);
}
void weight_prep_pack(loom_dtype t, const void *rows, void *dst, int64_t n_rows, int64_t row_len) {
    x16_pack(t, rows, dst, n_rows, row_len);
}
