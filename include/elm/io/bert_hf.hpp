// SPDX-License-Identifier: MIT
// Hugging Face BERT model directories (config.json, model.safetensors): read into a models::Bert,
// BertForMaskedLM or BertForSequenceClassification and written from one, as save_pretrained lays them out; the
// directory's WordPiece tokenizer (vocab.txt) and a sentence-transformers directory's pooling.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/detail/hf_directory.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace elm::io {
namespace detail {

/// transformers' class of each model: the name config.json's architectures gives it.
template <typename Model>
struct BertHfClass;
template <typename Scalar>
struct BertHfClass<models::Bert<Scalar>> {
  static constexpr const char* name = "BertModel";
};
template <typename Scalar>
struct BertHfClass<models::BertForMaskedLM<Scalar>> {
  static constexpr const char* name = "BertForMaskedLM";
};
template <typename Scalar>
struct BertHfClass<models::BertForSequenceClassification<Scalar>> {
  static constexpr const char* name = "BertForSequenceClassification";
};

/// The number of labels and their names from config.json's id2label ({"0": name, ...}), or num_labels, or
/// PretrainedConfig's default of two unnamed labels.
inline void read_bert_labels(const HfConfig& hf, models::BertConfig& c, const std::string& where) {
  if (!hf.contains("id2label") || hf.json().at("id2label").is_null()) {
    c.num_labels = hf.get_or<Index>("num_labels", 2);
    return;
  }
  const nlohmann::json& labels = hf.json().at("id2label");
  ELM_EXPECT(labels.is_object() && !labels.empty(), FormatError, where, ": id2label is ",
             detail::json_text(labels),
             ", expected an object {\"0\": name, ...}");
  c.num_labels = to_index(labels.size());
  c.id2label.assign(labels.size(), std::string());
  for (Index i = 0; i < c.num_labels; ++i) {
    const auto it = labels.find(std::to_string(i));
    ELM_EXPECT(it != labels.end() && it->is_string(), FormatError, where, ": id2label has no name for label ", i,
               ", expected the keys \"0\" .. \"", c.num_labels - 1, "\" with string names, got ",
               detail::json_text(labels));
    c.id2label[to_size(i)] = it->get<std::string>();
  }
}

}  // namespace detail

/// The architectures a BERT config.json may name: the encoder and the heads elm has, and BertForPreTraining (whose
/// masked-LM head is BertForMaskedLM's).
inline constexpr const char* bert_architectures[] = {"BertModel", "BertForMaskedLM", "BertForSequenceClassification",
                                                     "BertForPreTraining"};

/// A BERT configuration from a Hugging Face config.json (model_type "bert"). Throws FormatError naming the file
/// and the key for a missing or mistyped size (vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
/// intermediate_size, max_position_embeddings), sizes out of their domain (num_attention_heads not dividing
/// hidden_size, a dropout outside [0, 1), pad_token_id outside the vocabulary), an architecture other than
/// bert_architectures, and the options this implementation does not have: a hidden_act other than gelu,
/// gelu_new, gelu_pytorch_tanh or relu, position_embedding_type other than "absolute", is_decoder,
/// add_cross_attention. num_labels comes from id2label.
inline models::BertConfig bert_config(const HfConfig& hf) {
  const std::string where = "elm::io::bert_config: " + hf.source();
  const std::string type = hf.get_or<std::string>("model_type", "bert");
  ELM_EXPECT(type == "bert", FormatError, where, ": model_type is \"", type, "\", expected \"bert\"");
  if (hf.contains("architectures") && !hf.json().at("architectures").is_null()) {
    const nlohmann::json& architectures = hf.json().at("architectures");
    ELM_EXPECT(architectures.is_array(), FormatError, where, ": architectures is ",
               detail::json_text(architectures),
               ", expected a list of class names");
    for (const nlohmann::json& a : architectures) {
      bool known = false;
      for (const char* name : bert_architectures) known = known || (a.is_string() && a.get<std::string>() == name);
      ELM_EXPECT(known, FormatError, where, ": architectures names ", detail::json_text(a),
                 ", expected BertModel, BertForMaskedLM, BertForSequenceClassification or BertForPreTraining");
    }
  }
  models::BertConfig c;
  c.vocab_size = hf.get<Index>("vocab_size");
  c.hidden_size = hf.get<Index>("hidden_size");
  c.num_hidden_layers = hf.get<Index>("num_hidden_layers");
  c.num_attention_heads = hf.get<Index>("num_attention_heads");
  c.intermediate_size = hf.get<Index>("intermediate_size");
  c.max_position_embeddings = hf.get<Index>("max_position_embeddings");
  c.type_vocab_size = hf.get_or<Index>("type_vocab_size", 2);
  c.hidden_dropout_prob = hf.get_or<double>("hidden_dropout_prob", 0.1);
  c.attention_probs_dropout_prob = hf.get_or<double>("attention_probs_dropout_prob", 0.1);
  c.initializer_range = hf.get_or<double>("initializer_range", 0.02);
  c.layer_norm_eps = hf.get_or<double>("layer_norm_eps", 1e-12);
  c.pad_token_id = detail::hf_token_id(hf, "pad_token_id", c.pad_token_id);
  if (hf.contains("classifier_dropout") && !hf.json().at("classifier_dropout").is_null())
    c.classifier_dropout = hf.get<double>("classifier_dropout");
  const std::string act = hf.get_or<std::string>("hidden_act", "gelu");
  ELM_EXPECT(act == "gelu" || act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "relu", FormatError, where,
             ": hidden_act is \"", act, "\", expected gelu, gelu_new, gelu_pytorch_tanh or relu");
  c.hidden_act = nn::parse_activation(act);
  const std::string positions = hf.get_or<std::string>("position_embedding_type", "absolute");
  ELM_EXPECT(positions == "absolute", FormatError, where, ": position_embedding_type is \"", positions,
             "\", expected \"absolute\" (relative position embeddings are not implemented)");
  ELM_EXPECT(!hf.get_or<bool>("is_decoder", false), FormatError, where,
             ": is_decoder is true (a causal BERT), expected false: elm's BERT is the bidirectional encoder");
  ELM_EXPECT(!hf.get_or<bool>("add_cross_attention", false), FormatError, where,
             ": add_cross_attention is true (an encoder-decoder's cross-attention), which elm's BERT does not have");
  detail::read_bert_labels(hf, c, where);
  try {
    c.check(where);
  } catch (const InvalidArgument& e) {
    throw FormatError(e.what());  // a file that describes no model is a bad file
  }
  return c;
}

/// The config.json of a BERT configuration as transformers' save_pretrained writes it for `architecture`
/// (BertModel, BertForMaskedLM or BertForSequenceClassification): the keys BertConfig writes, with id2label and
/// label2id when the labels are not two unnamed ones, and `dtype` named as PyTorch names it.
inline nlohmann::json bert_config_json(const models::BertConfig& c, std::string_view architecture,
                                       Dtype dtype = Dtype::F32) {
  nlohmann::json j = nlohmann::json::object();  // keys in sorted order, as transformers writes them
  j["add_cross_attention"] = false;
  j["architectures"] = {std::string(architecture)};
  j["attention_probs_dropout_prob"] = c.attention_probs_dropout_prob;
  j["bos_token_id"] = nullptr;
  j["classifier_dropout"] = c.classifier_dropout ? nlohmann::json(*c.classifier_dropout) : nlohmann::json(nullptr);
  j["dtype"] = detail::torch_dtype_name(dtype);
  j["eos_token_id"] = nullptr;
  j["hidden_act"] = detail::hf_activation_name(c.hidden_act);
  j["hidden_dropout_prob"] = c.hidden_dropout_prob;
  j["hidden_size"] = c.hidden_size;
  bool default_labels = c.num_labels == 2;
  for (Index i = 0; i < c.num_labels; ++i)
    default_labels = default_labels && c.label_name(i) == "LABEL_" + std::to_string(i);
  if (!default_labels) {
    j["id2label"] = nlohmann::json::object();
    j["label2id"] = nlohmann::json::object();
    for (Index i = 0; i < c.num_labels; ++i) {
      j["id2label"][std::to_string(i)] = c.label_name(i);
      j["label2id"][c.label_name(i)] = i;
    }
  }
  j["initializer_range"] = c.initializer_range;
  j["intermediate_size"] = c.intermediate_size;
  j["is_decoder"] = false;
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["model_type"] = "bert";
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["pad_token_id"] = c.pad_token_id ? nlohmann::json(*c.pad_token_id) : nlohmann::json(nullptr);
  j["tie_word_embeddings"] = true;
  j["type_vocab_size"] = c.type_vocab_size;
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j;
}

/// Options of reading a BERT directory.
struct BertLoadOptions {
  /// Accept a BertForPreTraining checkpoint, whose next-sentence-prediction head (cls.seq_relationship.weight
  /// and .bias) elm has no model for, and drop that head. Without it such a file is refused: a tensor that
  /// would be lost without a word.
  bool drop_next_sentence_head = false;
};

namespace detail {

/// Checks the tensors of `reader` that no parameter of model_class read (report.unexpected_keys): the
/// position_ids and token_type_ids buffers older versions saved are ignored; a masked LM's stored copy of its
/// tied decoder must equal the word embeddings and cls.predictions.bias (when masked_lm); the masked-LM head
/// (cls.predictions.*) is dropped when drop_masked_lm_head (a body read for another head, as transformers
/// does); BertForPreTraining's next-sentence head when options say so. Throws FormatError naming the first other.
template <typename Scalar>
void check_bert_unused_tensors(const SafetensorsReader& reader, const LoadReport& report, bool prefixed,
                               const std::string& weights_path, std::string_view model_class, bool masked_lm,
                               bool drop_masked_lm_head, const BertLoadOptions& options, std::string_view where) {
  const auto next_sentence = [](const std::string& name) { return name.compare(0, 21, "cls.seq_relationship.") == 0; };
  for (const std::string& name : report.unexpected_keys)  // named first: the option that accepts the file
    ELM_EXPECT(options.drop_next_sentence_head || !next_sentence(name), FormatError, where, ": ", weights_path,
               " has tensor '", name, "', which ", model_class, " does not have (BertForPreTraining's "
               "next-sentence head: set BertLoadOptions::drop_next_sentence_head to drop it)");
  for (const std::string& name : report.unexpected_keys) {
    const std::string body_name = name.compare(0, 5, "bert.") == 0 ? name.substr(5) : name;
    if (body_name == "embeddings.position_ids" || body_name == "embeddings.token_type_ids") continue;  // buffers
    if (options.drop_next_sentence_head && next_sentence(name)) continue;
    // BertForPreTraining's pooler feeds only its next-sentence head: dropped with it from a masked LM, which has none
    if (options.drop_next_sentence_head && masked_lm && body_name.compare(0, 13, "pooler.dense.") == 0) continue;
    if (drop_masked_lm_head && name.compare(0, 16, "cls.predictions.") == 0) continue;
    if (masked_lm) {
      const bool decoder_weight = name == "cls.predictions.decoder.weight";
      if (decoder_weight || name == "cls.predictions.decoder.bias") {
        const std::string tied = decoder_weight
                                     ? (prefixed ? "bert." : "") + std::string("embeddings.word_embeddings.weight")
                                     : "cls.predictions.bias";
        const bool same = reader.info(name).shape == reader.info(tied).shape &&
                          reader.read_matrix<Scalar>(name) == reader.read_matrix<Scalar>(tied);
        ELM_EXPECT(same, FormatError, where, ": ", weights_path, " has tensor '", name, "' different from '", tied,
                   "': an untied decoder, which elm's BertForMaskedLM does not have (its decoder is tied)");
        continue;
      }
    }
    throw FormatError(elm::detail::concat(where, ": ", weights_path, " has tensor '", name, "', which ", model_class,
                                          " does not have"));
  }
}

/// The parameters of a module whose names are in `names`, visited as the module's own for_each_parameter visits
/// them (to initialise only those).
template <typename Module>
struct NamedParameters {
  Module& module;
  const std::set<std::string>& names;
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    module.for_each_parameter(prefix, [&](const std::string& name, auto& p) {
      if (names.count(name) != 0) f(name, p);
    });
  }
};

/// The parameter count of BERT's encoder from its config, without the pooler and the heads (what every class's
/// file holds at least): the three embeddings and their LayerNorm, and per layer the attention's four projections,
/// the MLP and two LayerNorms.
inline long double bert_body_parameter_count(const models::BertConfig& c) {
  const long double V = c.vocab_size, P = c.max_position_embeddings, T = c.type_vocab_size, C = c.hidden_size;
  const long double L = c.num_hidden_layers, F = c.intermediate_size;
  const long double layer = 4 * (C * C + C) + 2 * C + (C * F + F) + (F * C + C) + 2 * C;
  return (V + P + T) * C + 2 * C + L * layer;
}

}  // namespace detail

/// Loads a Hugging Face BERT directory into Model: models::Bert<Scalar> (a BertModel checkpoint; with the pooler
/// when the file has pooler.dense.*), models::BertForMaskedLM<Scalar> or models::BertForSequenceClassification<
/// Scalar>. Reads config.json and model.safetensors (F32, F16 or BF16; the encoder's names with or without the
/// "bert." prefix). Every parameter must be in the file and every tensor must be a parameter, except the
/// position_ids and token_type_ids buffers older versions saved, for the masked LM a stored copy of the
/// tied decoder (cls.predictions.decoder.weight and .bias, which must equal the word embeddings and
/// cls.predictions.bias), and with options.drop_next_sentence_head BertForPreTraining's next-sentence head
/// (cls.seq_relationship.*, dropped, and for the masked LM the pooler that feeds it). Throws IoError or FormatError naming the file and the tensor (and, for a
/// pytorch_model.bin, the one-line conversion); nothing partially loaded is returned.
template <typename Model>
Model load_bert_hf(const std::string& directory, const BertLoadOptions& load_options = {}) {
  using Scalar = typename Model::scalar_type;
  constexpr const char* where = "elm::io::load_bert_hf";
  constexpr const char* model_class = detail::BertHfClass<Model>::name;
  constexpr bool is_body = std::is_same_v<Model, models::Bert<Scalar>>;
  constexpr bool is_masked_lm = std::is_same_v<Model, models::BertForMaskedLM<Scalar>>;
  const std::string weights_path = detail::hf_weights_path(where, directory, model_class);
  const HfConfig hf = HfConfig::load(directory + "/config.json");
  const models::BertConfig config = bert_config(hf);
  if constexpr (is_masked_lm)
    ELM_EXPECT(hf.get_or<bool>("tie_word_embeddings", true), FormatError, where, ": ", hf.source(),
               ": tie_word_embeddings is false, expected true (BertForMaskedLM's decoder is its word embeddings)");
  const SafetensorsReader reader(weights_path);
  detail::check_config_fits_weights(where, hf.source(), detail::bert_body_parameter_count(config), reader);
  // The encoder's tensors are "bert.<name>" in a head's file and "<name>" in BertModel's; either may hold either.
  const bool prefixed = reader.contains("bert.embeddings.word_embeddings.weight");
  Model loaded = [&] {
    if constexpr (is_body)
      return Model(config, reader.contains(prefixed ? "bert.pooler.dense.weight" : "pooler.dense.weight"));
    else
      return Model(config);
  }();
  LoadOptions options;
  options.strict = false;
  options.in_place = true;  // the model is discarded on failure: no second copy of the weights at the peak
  options.name_map = [&](const std::string& name) {
    if constexpr (is_body) return TensorSource{prefixed ? "bert." + name : name, false};
    const bool body = name.compare(0, 5, "bert.") == 0;
    return TensorSource{body && !prefixed ? name.substr(5) : name, false};
  };
  const LoadReport report = load_parameters(reader, loaded, options);
  ELM_EXPECT(report.missing_keys.empty(), FormatError, where, ": ", weights_path, " has no tensor for parameter '",
             report.missing_keys.empty() ? "" : report.missing_keys.front(), "' of ", model_class, " (",
             report.missing_keys.size(), " missing in all)");
  detail::check_bert_unused_tensors<Scalar>(reader, report, prefixed, weights_path, model_class, is_masked_lm,
                                            /*drop_masked_lm_head=*/false, load_options, where);
  return loaded;
}

/// How bert_classifier_from_pretrained heads a pretrained body.
struct BertClassifierOptions {
  /// The classes (>= 2). Hugging Face's num_labels = 1 means regression (a mean-squared-error head), which
  /// elm's classifier, trained with cross-entropy, does not do: refused.
  Index num_labels = 2;
  std::vector<std::string> id2label;  ///< empty, or the num_labels classes' names (written to config.json)
  BertLoadOptions load;               ///< drop_next_sentence_head for a BertForPreTraining checkpoint
};

/// A BertForSequenceClassification whose encoder is the pretrained body of a Hugging Face directory, with a new
/// classification head, as transformers' BertForSequenceClassification.from_pretrained(directory,
/// num_labels=...) builds it: the directory may be a BertModel (a sentence-transformers directory such as
/// all-MiniLM-L6-v2 is one), a BertForMaskedLM, or a BertForPreTraining with
/// options.load.drop_next_sentence_head; its masked-LM head (cls.predictions.*) is dropped. The parameters the
/// file does not have, the classifier (num_labels, C) and the pooler when the file has none (a masked LM's),
/// get Hugging Face's initialisation from rng: weights from N(0, initializer_range^2), biases zero.
/// Throws InvalidArgument for num_labels < 2 or id2label of another length; IoError or FormatError (naming
/// the file and the tensor) for a directory that is not such a body: a missing encoder tensor, a tensor that is
/// not BERT's, a directory that already is a BertForSequenceClassification (load it with load_bert_hf);
/// ShapeError (both shapes) for a tensor that does not fit config.json's sizes (a hidden_size not the weights').
template <typename Scalar>
models::BertForSequenceClassification<Scalar> bert_classifier_from_pretrained(const std::string& directory,
                                                                              const BertClassifierOptions& options,
                                                                              Rng& rng) {
  using Model = models::BertForSequenceClassification<Scalar>;
  constexpr const char* where = "elm::io::bert_classifier_from_pretrained";
  ELM_EXPECT(options.num_labels >= 2, InvalidArgument, where, ": num_labels = ", options.num_labels,
             ", expected >= 2 classes (Hugging Face's num_labels = 1 is a regression head, which elm's classifier "
             "does not have)");
  ELM_EXPECT(options.id2label.empty() || to_index(options.id2label.size()) == options.num_labels, InvalidArgument,
             where, ": id2label has ", options.id2label.size(), " names, expected none or num_labels = ",
             options.num_labels);
  const std::string weights_path = detail::hf_weights_path(where, directory, "BertModel");
  const HfConfig hf = HfConfig::load(directory + "/config.json");
  models::BertConfig config = bert_config(hf);
  const SafetensorsReader reader(weights_path);
  detail::check_config_fits_weights(where, hf.source(), detail::bert_body_parameter_count(config), reader);
  ELM_EXPECT(!reader.contains("classifier.weight"), FormatError, where, ": ", weights_path,
             " holds a classifier (classifier.weight): a BertForSequenceClassification already, expected a "
             "pretrained body (BertModel, BertForMaskedLM or BertForPreTraining); load it with load_bert_hf");
  config.num_labels = options.num_labels;
  config.id2label = options.id2label;
  Model model(config);
  const bool prefixed = reader.contains("bert.embeddings.word_embeddings.weight");
  LoadOptions load;
  load.strict = false;
  load.name_map = [&](const std::string& name) {
    const bool body = name.compare(0, 5, "bert.") == 0;
    return TensorSource{body && !prefixed ? name.substr(5) : name, false};
  };
  const LoadReport report = load_parameters(reader, model, load);
  // 1) what the body lacks may only be the new head and, for a masked LM's body, the pooler
  const std::set<std::string> fresh(report.missing_keys.begin(), report.missing_keys.end());
  for (const std::string& name : report.missing_keys) {
    const bool head = name == "classifier.weight" || name == "classifier.bias";
    const bool pooler = (name == "bert.pooler.dense.weight" || name == "bert.pooler.dense.bias") &&
                        fresh.count("bert.pooler.dense.weight") != 0 && fresh.count("bert.pooler.dense.bias") != 0;
    ELM_EXPECT(head || pooler, FormatError, where, ": ", weights_path, " has no tensor for parameter '", name,
               "' of the pretrained body (", report.missing_keys.size(), " missing in all, with the new head's)");
  }
  detail::check_bert_unused_tensors<Scalar>(reader, report, prefixed, weights_path, "BertModel", false,
                                            /*drop_masked_lm_head=*/true, options.load, where);
  // 2) Hugging Face's initialisation of the parameters the file did not have, in the model's order
  detail::NamedParameters<Model> only{model, fresh};
  models::detail::reset_bert_parameters(only, config, rng);
  return model;
}

/// Writes a Hugging Face BERT directory that transformers' <class>.from_pretrained loads (BertModel,
/// BertForMaskedLM or BertForSequenceClassification, after the model) and load_bert_hf reads back: config.json
/// (bert_config_json) and model.safetensors as save_pretrained lays it out (names sorted, the tied decoder left
/// out, __metadata__ {"format": "pt"}), in `dtype`: F32 (the default), F16, BF16 (rounded to nearest even) or
/// F64. The directory is created if missing; other files in it (vocab.txt, tokenizer files) are left alone.
/// Atomic: both files are written completely beside their targets before either replaces a previous version,
/// so a failure leaves the directory as it was. Throws InvalidArgument for a dtype that is not floating-point,
/// RangeError for a parameter value the dtype cannot represent (above 65504 in F16), IoError when the directory
/// or a file cannot be written.
template <typename Model>
void save_bert_hf(const Model& model, const std::string& directory, Dtype dtype = Dtype::F32) {
  constexpr const char* where = "elm::io::save_bert_hf";
  const SafetensorsWriter writer = detail::hf_weights_writer(model, "", dtype, where);
  detail::write_hf_directory(where, directory, writer,
                             bert_config_json(model.config(), detail::BertHfClass<Model>::name, dtype));
}

/// BERT's WordPiece tokenizer of a model directory: vocab.txt, with tokenizer_config.json's do_lower_case,
/// strip_accents, tokenize_chinese_chars and special tokens when the file is there (BertTokenizer's defaults
/// otherwise: lower case, accents stripped with it, CJK characters split, [UNK] [CLS] [SEP] [PAD] [MASK]). Throws
/// IoError naming the directory when vocab.txt is missing, FormatError naming the file for a mistyped key or a
/// vocabulary without one of the five special tokens.
inline text::WordPieceTokenizer load_bert_tokenizer(const std::string& directory) {
  constexpr std::string_view where = "elm::io::load_bert_tokenizer";
  const std::string vocab_path = directory + "/vocab.txt";
  ELM_EXPECT(std::filesystem::is_regular_file(vocab_path), IoError, where, ": ", directory,
             " has no vocab.txt, expected BERT's WordPiece vocabulary beside config.json");
  text::WordPieceConfig config;
  const std::string config_path = directory + "/tokenizer_config.json";
  if (std::filesystem::is_regular_file(config_path)) {
    const HfConfig hf = HfConfig::load(config_path);
    config.lowercase = hf.get_or<bool>("do_lower_case", true);
    if (hf.contains("strip_accents") && !hf.json().at("strip_accents").is_null())
      config.strip_accents = hf.get<bool>("strip_accents");
    config.handle_chinese_chars = hf.get_or<bool>("tokenize_chinese_chars", true);
    config.unk_token = hf.get_or<std::string>("unk_token", config.unk_token);
    config.cls_token = hf.get_or<std::string>("cls_token", config.cls_token);
    config.sep_token = hf.get_or<std::string>("sep_token", config.sep_token);
    config.pad_token = hf.get_or<std::string>("pad_token", config.pad_token);
    config.mask_token = hf.get_or<std::string>("mask_token", config.mask_token);
  }
  text::WordPieceTokenizer tokenizer = text::WordPieceTokenizer::from_file(vocab_path, config);
  // the tokenizer needs [UNK], [CLS], [SEP] and [PAD]; BERT's masked LM needs its mask token too
  ELM_EXPECT(tokenizer.vocabulary().find(config.mask_token) >= 0, FormatError, where, ": ", vocab_path,
             " has no mask token '", config.mask_token, "', expected it among its ", tokenizer.vocab_size(),
             " tokens (BERT's masked-LM input)");
  return tokenizer;
}

/// How a sentence-transformers directory makes sentence embeddings of its BERT: the pooling, whether they are
/// L2-normalised, and the longest input in tokens (longer ones are truncated).
struct SentenceTransformerConfig {
  models::SentencePooling pooling = models::SentencePooling::mean;
  bool normalize = true;
  Index max_seq_length = 0;  ///< 0: the model's max_position_embeddings
};

/// The sentence-embedding recipe of a model directory as sentence-transformers reads it: modules.json (a
/// Transformer, then a Pooling, then optionally a Normalize), the Pooling module's config.json
/// (pooling_mode_mean_tokens, _max_tokens or _cls_token) and sentence_bert_config.json (max_seq_length). A plain
/// Hugging Face directory (no modules.json) gets mean pooling and normalisation. Throws FormatError naming the
/// file for a module or pooling mode elm does not have (Dense layers, weighted or last-token pooling, several
/// modes at once, do_lower_case in sentence_bert_config.json), IoError for a missing module file.
inline SentenceTransformerConfig sentence_transformer_config(const std::string& directory) {
  constexpr std::string_view where = "elm::io::sentence_transformer_config";
  SentenceTransformerConfig out;
  const std::string modules_path = directory + "/modules.json";
  if (!std::filesystem::is_regular_file(modules_path)) return out;
  const nlohmann::json modules = detail::parse_json_text(MappedFile(modules_path, where).text(), modules_path, where);
  ELM_EXPECT(modules.is_array(), FormatError, where, ": ", modules_path, " holds ", detail::json_text(modules),
             ", expected a list of modules");
  std::vector<std::string> types;
  std::string pooling_path;
  for (const nlohmann::json& m : modules) {
    const std::string type = m.is_object() && m.contains("type") && m.at("type").is_string()
                                 ? m.at("type").get<std::string>() : detail::json_text(m);
    types.push_back(type);
    if (type == "sentence_transformers.models.Pooling")
      pooling_path = directory + "/" + (m.contains("path") && m.at("path").is_string() ? m.at("path").get<std::string>()
                                                                                          : std::string()) +
                     "/config.json";
  }
  const bool normalized = types.size() == 3 && types[2] == "sentence_transformers.models.Normalize";
  ELM_EXPECT((types.size() == 2 || normalized) && types[0] == "sentence_transformers.models.Transformer" &&
                 !pooling_path.empty() && types[1] == "sentence_transformers.models.Pooling",
             FormatError, where, ": ", modules_path, " lists ", detail::json_text(modules),
             ", expected a Transformer, a Pooling and optionally a Normalize module (elm has no other)");
  out.normalize = normalized;
  const HfConfig pooling = HfConfig::load(pooling_path);
  int modes = 0;
  for (const char* key : {"pooling_mode_mean_tokens", "pooling_mode_max_tokens", "pooling_mode_cls_token"})
    modes += pooling.get_or<bool>(key, false) ? 1 : 0;
  for (const char* key : {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                          "pooling_mode_lasttoken"})
    ELM_EXPECT(!pooling.get_or<bool>(key, false), FormatError, where, ": ", pooling_path, ": ", key,
               " is true, a pooling elm does not have (it has mean, max and cls)");
  ELM_EXPECT(modes == 1, FormatError, where, ": ", pooling_path, " sets ", modes,
             " of pooling_mode_mean_tokens, pooling_mode_max_tokens and pooling_mode_cls_token, expected exactly one");
  out.pooling = pooling.get_or<bool>("pooling_mode_max_tokens", false) ? models::SentencePooling::max
                : pooling.get_or<bool>("pooling_mode_cls_token", false) ? models::SentencePooling::cls
                                                                        : models::SentencePooling::mean;
  const std::string st_path = directory + "/sentence_bert_config.json";
  if (std::filesystem::is_regular_file(st_path)) {
    const HfConfig st = HfConfig::load(st_path);
    out.max_seq_length = st.get_or<Index>("max_seq_length", 0);
    ELM_EXPECT(out.max_seq_length >= 0, FormatError, where, ": ", st_path, ": max_seq_length = ", out.max_seq_length,
               ", expected >= 0");
    ELM_EXPECT(!st.get_or<bool>("do_lower_case", false), FormatError, where, ": ", st_path,
               ": do_lower_case is true (sentence-transformers lower-cases before the tokenizer), which elm does not "
               "do; the tokenizer's own do_lower_case is read from tokenizer_config.json");
  }
  return out;
}

}  // namespace elm::io
