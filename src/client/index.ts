export { BrokerClient } from "./broker-client.js";
export type { BoundSession, Health, OpenSessionOptions, SessionCredentials, SessionView, AwsCredentials, GithubCredentials } from "./broker-client.js";
export { BrokerError } from "../errors.js";
export { defaultSocketPath } from "../cli/places.js";
