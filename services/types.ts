/** Where the pipeline finds Kafka and the schema registry. */
export interface ServiceEndpoints {
  /** host:port of each bootstrap broker. */
  brokers: string[];
  /** Confluent-compatible base URL, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  registryUrl: string;
}

export interface RunningServices extends ServiceEndpoints {
  /** Names of the services this call started (empty when all came from the environment). */
  started: string[];
  /** Stops what this call started (SIGTERM, then SIGKILL after a timeout), removes temp dirs it created. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Folder for data/logs/state; default `.services/run` under the repo root. */
  runDir?: string;
  /** Default: a free port chosen by the runner. */
  kafkaPort?: number;
  /** Default: a free port chosen by the runner. */
  registryPort?: number;
  /** true for `services up`: processes outlive this Node process (detached, unref'd), state recorded in runDir/state.json. */
  detached?: boolean;
  /** Progress lines for humans ("starting Kafka 4.4.0 on 127.0.0.1:39092 …"); default: stderr. */
  onProgress?: (line: string) => void;
  /** Read for KAFKA_BROKERS, SCHEMA_REGISTRY_URL and JAVA_HOME, and passed to the services; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface StopOptions {
  runDir?: string;
  onProgress?: (line: string) => void;
}

export interface StatusOptions {
  runDir?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ServiceStatus {
  name: string;
  /** Broker address or registry base URL. */
  url: string;
  /** Present for services started by `services up`; absent for ones configured by the environment. */
  pid?: number;
  /** The process is alive and the endpoint answers. */
  up: boolean;
}
