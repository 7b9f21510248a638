// Builds small ONNX models for the tests, offline, with the ONNX protobuf
// schema of the npm package `onnx-proto`: shaped like a BERT encoder
// (inputs input_ids, attention_mask, token_type_ids; output
// last_hidden_state [batch, tokens, hidden]) but computing only
//   last_hidden_state = (word_emb[input_ids] + type_emb[token_type_ids]) * attention_mask
// so that a test can compute the expected sentence vector by hand.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

function valueInfo(name, elemType, dims) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function floatTensor(name, dims, values) {
  return { name, dims, dataType: T.FLOAT, floatData: Array.from(values) };
}

function int64Tensor(name, dims, values) {
  return { name, dims, dataType: T.INT64, int64Data: values };
}

// Deterministic pseudo-random numbers in [-1, 1).
export function table(rows, cols, seed) {
  const out = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/**
 * tinyBertModel({vocabSize, hidden, withTokenTypes = true, extraInput, outputName,
 *                outputKind: 'hidden' | 'pooled' | 'int', wordEmb?, typeEmb?})
 *   -> {bytes, wordEmb, typeEmb, hidden}
 * Embedding tables default to pseudo-random numbers.
 */
export function tinyBertModel({
  vocabSize, hidden = 32, withTokenTypes = true, extraInput = null,
  outputName = 'last_hidden_state', outputKind = 'hidden', seed = 7,
  wordEmb = table(vocabSize, hidden, seed), typeEmb = table(2, hidden, seed + 1),
} = {}) {
  const inputs = [
    valueInfo('input_ids', T.INT64, ['batch', 'sequence']),
    valueInfo('attention_mask', T.INT64, ['batch', 'sequence']),
  ];
  if (withTokenTypes) inputs.push(valueInfo('token_type_ids', T.INT64, ['batch', 'sequence']));
  if (extraInput) inputs.push(valueInfo(extraInput, T.FLOAT, ['batch', 3, 224, 224]));
  const initializer = [
    floatTensor('word_emb', [vocabSize, hidden], wordEmb),
    floatTensor('type_emb', [2, hidden], typeEmb),
    int64Tensor('last_axis', [1], [-1]),
  ];
  if (outputKind === 'pooled') initializer.push(int64Tensor('token_axis', [1], [1]));
  const node = [
    { opType: 'Gather', input: ['word_emb', 'input_ids'], output: ['words'], name: 'word_lookup' },
    { opType: 'Cast', input: ['attention_mask'], output: ['mask_f'], name: 'mask_cast',
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT }] },
    { opType: 'Unsqueeze', input: ['mask_f', 'last_axis'], output: ['mask_3d'], name: 'mask_unsqueeze' },
  ];
  let summed = 'words';
  if (withTokenTypes) {
    node.push({ opType: 'Gather', input: ['type_emb', 'token_type_ids'], output: ['types'], name: 'type_lookup' });
    node.push({ opType: 'Add', input: ['words', 'types'], output: ['summed'], name: 'add_types' });
    summed = 'summed';
  }
  let output;
  if (outputKind === 'hidden') {
    node.push({ opType: 'Mul', input: [summed, 'mask_3d'], output: [outputName], name: 'apply_mask' });
    output = valueInfo(outputName, T.FLOAT, ['batch', 'sequence', hidden]);
  } else if (outputKind === 'pooled') {
    node.push({ opType: 'Mul', input: [summed, 'mask_3d'], output: ['masked'], name: 'apply_mask' });
    node.push({ opType: 'ReduceSum', input: ['masked', 'token_axis'], output: [outputName], name: 'pool',
      attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
    output = valueInfo(outputName, T.FLOAT, ['batch', hidden]);
  } else {  // 'int': a wrong element type
    node.push({ opType: 'Cast', input: ['input_ids'], output: [outputName], name: 'bad_cast',
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.INT32 }] });
    output = valueInfo(outputName, T.INT32, ['batch', 'sequence']);
  }
  const model = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'foldback-tests',
    graph: { name: 'tiny_bert', node, initializer, input: inputs, output: [output] },
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`tiny ONNX model: ${err}`);
  return { bytes: onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish(), wordEmb, typeEmb, hidden };
}

/**
 * tinyCrossEncoderModel({vocabSize, wordWeight, columns = 1, outputName = 'logits', outputKind})
 *   -> {bytes}
 * A cross-encoder shaped like BERT's (inputs input_ids, attention_mask,
 * token_type_ids) computing
 *   logit = sum over tokens of wordWeight[input_ids] * token_type_ids * attention_mask
 * — the summed weights of the passage's tokens (segment 1) — as [batch, 1],
 * or [batch, 2] = [-logit/2, logit/2] with columns 2; outputKind 'hidden'
 * gives a [batch, sequence, 1] output a cross-encoder must not have.
 */
export function tinyCrossEncoderModel({ vocabSize, wordWeight, columns = 1, outputName = 'logits', outputKind = 'logits' } = {}) {
  const inputs = [
    valueInfo('input_ids', T.INT64, ['batch', 'sequence']),
    valueInfo('attention_mask', T.INT64, ['batch', 'sequence']),
    valueInfo('token_type_ids', T.INT64, ['batch', 'sequence']),
  ];
  const initializer = [
    floatTensor('word_w', [vocabSize, 1], wordWeight),
    int64Tensor('last_axis', [1], [-1]),
    int64Tensor('token_axis', [1], [1]),
  ];
  const cast = (input, output) => ({ opType: 'Cast', input: [input], output: [output], name: `cast_${output}`,
    attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT }] });
  const node = [
    { opType: 'Gather', input: ['word_w', 'input_ids'], output: ['w'], name: 'weights' },
    cast('attention_mask', 'mask_f'),
    cast('token_type_ids', 'type_f'),
    { opType: 'Mul', input: ['mask_f', 'type_f'], output: ['sel'], name: 'select_passage' },
    { opType: 'Unsqueeze', input: ['sel', 'last_axis'], output: ['sel_3d'], name: 'sel_unsqueeze' },
    { opType: 'Mul', input: ['w', 'sel_3d'], output: ['ws'], name: 'apply' },
  ];
  let output;
  if (outputKind === 'hidden') {
    node.push({ opType: 'Identity', input: ['ws'], output: [outputName], name: 'out' });
    output = valueInfo(outputName, T.FLOAT, ['batch', 'sequence', 1]);
  } else if (columns === 2) {
    initializer.push(floatTensor('halves', [1, 2], [-0.5, 0.5]));
    node.push({ opType: 'ReduceSum', input: ['ws', 'token_axis'], output: ['logit'], name: 'sum',
      attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
    node.push({ opType: 'Mul', input: ['logit', 'halves'], output: [outputName], name: 'two_columns' });
    output = valueInfo(outputName, T.FLOAT, ['batch', 2]);
  } else {
    node.push({ opType: 'ReduceSum', input: ['ws', 'token_axis'], output: [outputName], name: 'sum',
      attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
    output = valueInfo(outputName, T.FLOAT, ['batch', 1]);
  }
  const model = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'foldback-tests',
    graph: { name: 'tiny_cross_encoder', node, initializer, input: inputs, output: [output] },
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`tiny ONNX model: ${err}`);
  return { bytes: onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish() };
}
