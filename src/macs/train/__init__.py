"""macs.train"""
