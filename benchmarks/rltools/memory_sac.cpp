// RLtools' recurrent SAC on its memory task, with the settings of its memory example, for
// benchmarks/sac.py to time beside metarl's configs/memory_sac.py. Built against the
// headers in the `rltools` pip package (see benchmarks/sac.py for the command).
//
// Settings (RLtools' example): memory task, horizon 10, input probability 2/10, episodes of
// 2000 steps; actor and critics dense 16 tanh -> GRU 16 -> GRU 16 -> linear; gamma 0;
// batches of 4 sequences of 50 steps; critic trained every step after 1000 steps, actor
// every 2nd after 10000; Adam 1e-4 (actor), 1e-3 (critic, temperature); initial alpha 1,
// adaptive, target entropy -4; 200,000 steps, replay of 200,000.
//
// Prints one line: seed, wall seconds of the training loop, and the accuracy of the final
// actor on 200 random 50-step sequences (round(10 * tanh(mean)) equals the number of ones
// among the last 10 inputs), the measure metarl's eval.csv reports.

#include <rl_tools/operations/cpu_mux.h>
#include <rl_tools/nn/optimizers/adam/instance/operations_generic.h>
#include <rl_tools/nn/operations_cpu_mux.h>
#include <rl_tools/nn/layers/gru/operations_generic.h>
#include <rl_tools/nn/layers/sample_and_squash/operations_generic.h>
#include <rl_tools/nn_models/mlp/operations_generic.h>
#include <rl_tools/nn_models/random_uniform/operations_generic.h>
#include <rl_tools/nn_models/sequential/operations_generic.h>
#include <rl_tools/nn/optimizers/adam/operations_generic.h>
#include <rl_tools/rl/environments/memory/operations_cpu.h>
#include <rl_tools/rl/algorithms/sac/loop/core/config.h>
#include <rl_tools/rl/algorithms/sac/loop/core/operations_generic.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace rlt = rl_tools;

using DEVICE = rlt::devices::DEVICE_FACTORY<>;
using RNG = DEVICE::SPEC::RANDOM::ENGINE<>;
using T = float;
using TI = typename DEVICE::index_t;
using TYPE_POLICY = rlt::numeric_types::Policy<T>;

constexpr TI HORIZON = 10;
constexpr TI SEQUENCE_LENGTH = 50;
constexpr TI BATCH_SIZE = 4;

struct MemoryParameters {
  static constexpr TI HORIZON = ::HORIZON;
  static constexpr T INPUT_PROBABILITY = (T)2 / (T)HORIZON;
  static constexpr TI EPISODE_STEP_LIMIT = 2000;
  static constexpr rlt::rl::environments::memory::Mode MODE =
      rlt::rl::environments::memory::Mode::COUNT_INPUT;
};
using ENVIRONMENT = rlt::rl::environments::Memory<
    rlt::rl::environments::memory::Specification<T, TI, MemoryParameters>>;

struct BatchSampling {  // metarl's replay section of configs/memory_sac.py
  static constexpr bool INCLUDE_FIRST_STEP_IN_TARGETS = true;
  static constexpr bool ALWAYS_SAMPLE_FROM_INITIAL_STATE = false;
  static constexpr bool RANDOM_SEQ_LENGTH = true;
  static constexpr bool ENABLE_NOMINAL_SEQUENCE_LENGTH_PROBABILITY = true;
  static constexpr T NOMINAL_SEQUENCE_LENGTH_PROBABILITY = 0.5;
};

struct LoopParameters
    : rlt::rl::algorithms::sac::loop::core::DefaultParameters<TYPE_POLICY, TI, ENVIRONMENT> {
  struct SAC_PARAMETERS
      : rlt::rl::algorithms::sac::DefaultParameters<TYPE_POLICY, TI, ENVIRONMENT::ACTION_DIM> {
    static constexpr T GAMMA = 0.0;
    static constexpr TI ACTOR_BATCH_SIZE = BATCH_SIZE;
    static constexpr TI CRITIC_BATCH_SIZE = BATCH_SIZE;
    static constexpr TI SEQUENCE_LENGTH = ::SEQUENCE_LENGTH;
    static constexpr TI CRITIC_TRAINING_INTERVAL = 1;
    static constexpr TI ACTOR_TRAINING_INTERVAL = 2;
    static constexpr bool ENTROPY_BONUS = true;
    static constexpr bool ENTROPY_BONUS_NEXT_STEP = false;
    static constexpr T TARGET_ENTROPY = -4;
    static constexpr T ALPHA = 1;
    static constexpr bool ADAPTIVE_ALPHA = true;
  };
  static constexpr TI N_WARMUP_STEPS = 1000;
  static constexpr TI N_WARMUP_STEPS_CRITIC = 1000;
  static constexpr TI N_WARMUP_STEPS_ACTOR = 10000;
  static constexpr TI STEP_LIMIT = 200000;
  static constexpr TI REPLAY_BUFFER_CAP = STEP_LIMIT;
  static constexpr TI EPISODE_STEP_LIMIT = MemoryParameters::EPISODE_STEP_LIMIT;
  static constexpr TI ACTOR_HIDDEN_DIM = 16;
  static constexpr TI ACTOR_NUM_LAYERS = 4;  // dense, GRU, GRU, output
  static constexpr auto ACTOR_ACTIVATION_FUNCTION =
      rlt::nn::activation_functions::ActivationFunction::TANH;
  static constexpr TI CRITIC_HIDDEN_DIM = ACTOR_HIDDEN_DIM;
  static constexpr TI CRITIC_NUM_LAYERS = 4;
  static constexpr auto CRITIC_ACTIVATION_FUNCTION = ACTOR_ACTIVATION_FUNCTION;
  static constexpr bool SHARED_BATCH = false;
  using BATCH_SAMPLING_PARAMETERS = rlt::rl::components::off_policy_runner::
      SequentialBatchParameters<TYPE_POLICY, TI, SEQUENCE_LENGTH, BatchSampling>;
  struct ACTOR_OPTIMIZER_PARAMETERS
      : rlt::nn::optimizers::adam::DEFAULT_PARAMETERS_TENSORFLOW<TYPE_POLICY> {
    static constexpr T ALPHA = 1e-4;
  };
  struct CRITIC_OPTIMIZER_PARAMETERS
      : rlt::nn::optimizers::adam::DEFAULT_PARAMETERS_TENSORFLOW<TYPE_POLICY> {
    static constexpr T ALPHA = 1e-3;
  };
  struct ALPHA_OPTIMIZER_PARAMETERS
      : rlt::nn::optimizers::adam::DEFAULT_PARAMETERS_TENSORFLOW<TYPE_POLICY> {
    static constexpr T ALPHA = 1e-3;
  };
};

using LOOP_CONFIG = rlt::rl::algorithms::sac::loop::core::Config<
    TYPE_POLICY, TI, RNG, ENVIRONMENT, LoopParameters,
    rlt::rl::algorithms::sac::loop::core::ConfigApproximatorsGRU>;
using LOOP_STATE = LOOP_CONFIG::State<LOOP_CONFIG>;
using ACTOR = typename LOOP_CONFIG::NN::ACTOR_TYPE;

int main(int argc, char** argv) {
  const TI seed = argc > 1 ? std::atoi(argv[1]) : 0;
  DEVICE device;
  LOOP_STATE ts;
  rlt::malloc(device);
  rlt::init(device);
  rlt::malloc(device, ts);
  rlt::init(device, ts, seed);
  const auto start = std::chrono::steady_clock::now();
  while (!rlt::step(device, ts)) {
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // accuracy of the deterministic actor, BATCH_SIZE sequences at a time
  rlt::Tensor<rlt::tensor::Specification<T, TI, rlt::tensor::Shape<TI, SEQUENCE_LENGTH, BATCH_SIZE, 1>>> input;
  rlt::Tensor<rlt::tensor::Specification<T, TI, rlt::tensor::Shape<TI, SEQUENCE_LENGTH, BATCH_SIZE, ENVIRONMENT::ACTION_DIM>>> output;
  typename ACTOR::template Buffer<> buffer;
  rlt::malloc(device, input);
  rlt::malloc(device, output);
  rlt::malloc(device, buffer);
  std::mt19937 gen(1000 + seed);
  std::bernoulli_distribution bit(MemoryParameters::INPUT_PROBABILITY);
  const TI num_sequences = 200;
  TI correct = 0;
  rlt::Mode<rlt::mode::Evaluation<>> mode;
  for (TI done = 0; done < num_sequences; done += BATCH_SIZE) {
    std::vector<int> counts(BATCH_SIZE, 0);
    for (TI b = 0; b < BATCH_SIZE; ++b) {
      std::vector<int> bits(SEQUENCE_LENGTH);
      for (TI t = 0; t < SEQUENCE_LENGTH; ++t) {
        bits[t] = bit(gen) ? 1 : 0;
        rlt::set(device, input, (T)bits[t], t, b, 0);
      }
      for (TI t = SEQUENCE_LENGTH - HORIZON; t < SEQUENCE_LENGTH; ++t) counts[b] += bits[t];
    }
    rlt::evaluate(device, ts.actor_critic.actor, input, output, buffer, ts.rng, mode);
    for (TI b = 0; b < BATCH_SIZE; ++b) {
      const T action = rlt::get(device, output, SEQUENCE_LENGTH - 1, b, 0);
      correct += std::lround(HORIZON * action) == counts[b];
    }
  }
  std::printf("{\"seed\": %d, \"train_seconds\": %.3f, \"accuracy\": %.4f}\n", (int)seed,
              seconds, (double)correct / num_sequences);
  return 0;
}
