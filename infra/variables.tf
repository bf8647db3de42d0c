variable "project" {
  description = "The Google Cloud project that runs the pipeline."
  type        = string
}

variable "region" {
  description = "Region for Vertex AI, Dataflow, the bucket and Artifact Registry."
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "simclr"
}

variable "pipeline_run_retention_days" {
  description = "Pipeline-run artifacts under pipeline-root/ older than this are deleted."
  type        = number
  default     = 90
}

variable "noncurrent_version_retention_days" {
  description = "Overwritten or deleted object versions are kept this long (bucket versioning)."
  type        = number
  default     = 30
}

variable "submitters" {
  description = "Principals who submit or schedule pipeline runs (user:..., group:..., serviceAccount:...); each may act as the pipeline service account."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.submitters : can(regex("^(user|group|serviceAccount):[^@]+@[^@]+$", m))])
    error_message = "Each submitter is user:EMAIL, group:EMAIL or serviceAccount:EMAIL."
  }
}

variable "dataset" {
  description = "The folder under gs://<bucket>/data/ that the pipeline ingests (its train/ and test/ inside); the README copies the seed's dataset there."
  type        = string
  default     = "imagenet-5-categories"
}

variable "access_log_retention_days" {
  description = "The bucket's access logs (in <bucket>-access-logs) are deleted after this many days."
  type        = number
  default     = 90
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/.../cryptoKeys/...) for the buckets, Artifact Registry and TensorBoard; Google-managed keys when empty. The services' agents need roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = ""
}
