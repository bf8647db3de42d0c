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
