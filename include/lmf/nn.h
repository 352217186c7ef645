/* lmfuse nn module: neural language models behind the model interface.
 *
 * This first part loads recurrent word models (Elman RNN, LSTM, GRU) from
 * safetensors files laid out like PyTorch's word_language_model:
 *     encoder.weight            [V, E]      embedding
 *     rnn.weight_ih_l{k}        [G*H, in]   G = 1 (rnn), 4 (lstm: i f g o), 3 (gru: r z n)
 *     rnn.weight_hh_l{k}        [G*H, H]
 *     rnn.bias_ih_l{k}          [G*H]
 *     rnn.bias_hh_l{k}          [G*H]
 *     decoder.weight            [V, H]      absent when tied to encoder.weight (E == H)
 *     decoder.bias              [V]
 * with string metadata
 *     lmfuse.arch   "rnn" | "lstm" | "gru"
 *     lmfuse.vocab  a JSON array of the V tokens in id order ("<unk>", "</s>", ...)
 *     lmfuse.token_mode  "word" (default), "char" or "byte"
 * (layers, sizes and tying are read from the tensor shapes).
 *
 * Transformers (lmfuse.arch "transformer", plus lmfuse.heads) use the
 * tensor names of src/nn/transformer.c's header comment (tok_emb.weight,
 * pos_emb.weight, blocks.{l}.{ln1,qkv,proj,ln2,fc,out}.{weight,bias},
 * ln_f.*, head.weight unless tied, head.bias); they read a stream through a
 * sliding window of their context (stride ctx/2).
 *
 * Stream convention: a recurrent model reads one continuous token stream
 * and carries its hidden state across lines; a fresh state has read a
 * single </s> from zero hidden state, so the first token of a text is
 * predicted as if it followed an end of line.  This is exactly what a
 * PyTorch model sees when the stream it is fed starts with an end-of-line
 * token.
 */
#ifndef LMF_NN_H
#define LMF_NN_H

#include "lmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads a recurrent model or a Transformer from a safetensors file.  *out is NULL on error
 * (message names the file and the missing or mis-shaped tensor). */
lmf_status lmf_nn_load(const char *path, lmf_model **out);

#ifdef __cplusplus
}
#endif
#endif
