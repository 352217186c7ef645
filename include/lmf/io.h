/* lmfuse io module: safetensors files (the weights format of neural models).
 *
 * Format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON
 *     {"__metadata__": {"key": "value", ...},
 *      "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
 * then the data buffer; offsets are relative to its start, and the tensors
 * tile it exactly.  The reader maps the file read-only and checks every
 * field against the file size before use; the writer writes to a temporary
 * name and renames.
 */
#ifndef LMF_IO_H
#define LMF_IO_H

#include "lmf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lmf_dtype {
    LMF_DT_F32 = 0,
    LMF_DT_F16,
    LMF_DT_BF16,
    LMF_DT_F64,
    LMF_DT_I64,
    LMF_DT_I32,
    LMF_DT_I16,
    LMF_DT_I8,
    LMF_DT_U8,
    LMF_DT_BOOL
} lmf_dtype;

#define LMF_ST_MAX_DIMS 8

/* Bytes per element, and the safetensors name ("F32", ...). */
size_t lmf_dtype_size(lmf_dtype t);
const char *lmf_dtype_name(lmf_dtype t);

typedef struct lmf_st_tensor {
    const char *name;
    lmf_dtype dtype;
    int ndim;
    int64_t shape[LMF_ST_MAX_DIMS];
    uint64_t numel;
    const void *data; /* inside the mapping; may be unaligned: read with lmf_st_to_f32 or memcpy */
    uint64_t nbytes;
} lmf_st_tensor;

typedef struct lmf_safetensors lmf_safetensors;

/* Opens and validates a safetensors file.  *out is NULL on error (message
 * names the file and the offending tensor). */
lmf_status lmf_st_open(const char *path, lmf_safetensors **out);
void lmf_st_close(lmf_safetensors *st);
size_t lmf_st_count(const lmf_safetensors *st);
/* Tensors in data order (i < count); NULL if out of range. */
const lmf_st_tensor *lmf_st_at(const lmf_safetensors *st, size_t i);
/* The tensor called `name`, or NULL. */
const lmf_st_tensor *lmf_st_find(const lmf_safetensors *st, const char *name);
/* A __metadata__ value, or NULL. */
const char *lmf_st_meta(const lmf_safetensors *st, const char *key);
/* Converts a tensor of dtype F32, F16, BF16 or F64 to float: dst holds
 * t->numel floats.  LMF_ERR_UNSUPPORTED for other dtypes. */
lmf_status lmf_st_to_f32(const lmf_st_tensor *t, float *dst);
/* lmf_st_to_f32 for model parameters: also refuses a tensor holding a NaN or
 * an infinity (a diverged or damaged model would score NaN).  Errors
 * (LMF_ERR_FORMAT) name `path`, the tensor and the first bad element. */
lmf_status lmf_st_to_f32_finite(const lmf_st_tensor *t, float *dst, const char *path);

/* ---- writing ---- */
typedef struct lmf_st_writer lmf_st_writer;
lmf_st_writer *lmf_st_writer_new(void); /* NULL on out of memory */
void lmf_st_writer_free(lmf_st_writer *w);
/* Adds a tensor; `data` (numel * dtype size bytes) must stay valid until
 * lmf_st_write.  Names must be unique and not "__metadata__". */
lmf_status lmf_st_add(lmf_st_writer *w, const char *name, lmf_dtype dtype, int ndim, const int64_t *shape,
                      const void *data);
/* Sets a metadata string (replacing an earlier value of the key). */
lmf_status lmf_st_set_meta(lmf_st_writer *w, const char *key, const char *value);
/* Writes the file atomically (temporary name, then rename). */
lmf_status lmf_st_write(const lmf_st_writer *w, const char *path);
/* lmf_st_write that, with the whole file under its temporary name, calls
 * check(tmp_path, user) before the rename: a status other than LMF_OK
 * (returned as is) leaves `path` as it was.  path must then be a regular
 * file (or a new name): a device, FIFO or "-" is LMF_ERR_ARG, nothing
 * written. */
lmf_status lmf_st_write_checked(const lmf_st_writer *w, const char *path,
                                lmf_status (*check)(const char *tmp_path, void *user), void *user);

#ifdef __cplusplus
}
#endif
#endif
